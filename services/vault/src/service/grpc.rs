//! The generated `VaultService` trait, adapted onto the handlers: resolve the caller, run
//! the handler, map its error to a status.

use keyroute_proto::vault::v1 as pb;
use keyroute_proto::vault::v1::vault_service_server::VaultService;
use tonic::{Request, Response, Status};

use super::Vault;
use super::leases::RevocationStream;

/// Writes the trait impl: `with_call` handlers get the caller's context, `plain` ones only
/// the request (the authorization layer has already admitted the peer).
macro_rules! vault_service {
    (
        with_call { $($method:ident($req:ty) -> $resp:ty;)* }
        plain { $($plain:ident($preq:ty) -> $presp:ty;)* }
    ) => {
        #[tonic::async_trait]
        impl VaultService for Vault {
            $(
                async fn $method(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    let call = self.call(&request).await?;
                    Ok(Response::new(Vault::$method(self, &call, request.into_inner()).await?))
                }
            )*
            $(
                async fn $plain(&self, request: Request<$preq>) -> Result<Response<$presp>, Status> {
                    Ok(Response::new(Vault::$plain(self, request.into_inner()).await?))
                }
            )*

            type WatchRevocationsStream = RevocationStream;

            async fn watch_revocations(&self, request: Request<pb::WatchRevocationsRequest>) -> Result<Response<RevocationStream>, Status> {
                let call = self.call(&request).await?;
                tracing::info!(peer = %call.peer, "revocation subscriber connected");
                Ok(Response::new(Vault::watch_revocations(self)))
            }

            async fn start_session(&self, request: Request<pb::StartSessionRequest>) -> Result<Response<pb::StartSessionResponse>, Status> {
                let (call, token) = self.session_call(&request)?;
                Ok(Response::new(Vault::start_session(self, &call, &token, request.into_inner()).await?))
            }

            async fn rotate_kek(&self, request: Request<pb::RotateKekRequest>) -> Result<Response<pb::RotateKekResponse>, Status> {
                let call = self.call(&request).await?;
                Ok(Response::new(Vault::rotate_kek(self, &call).await?))
            }
        }
    };
}

vault_service! {
    with_call {
        create_user(pb::CreateUserRequest) -> pb::CreateUserResponse;
        create_org(pb::CreateOrgRequest) -> pb::CreateOrgResponse;
        add_member(pb::AddMemberRequest) -> pb::AddMemberResponse;
        remove_member(pb::RemoveMemberRequest) -> pb::RemoveMemberResponse;
        issue_token(pb::IssueTokenRequest) -> pb::IssueTokenResponse;
        list_tokens(pb::ListTokensRequest) -> pb::ListTokensResponse;
        get_daily_usage(pb::GetDailyUsageRequest) -> pb::GetDailyUsageResponse;
        revoke_token(pb::RevokeTokenRequest) -> pb::RevokeTokenResponse;
        revoke_principal_tokens(pb::RevokePrincipalTokensRequest) -> pb::RevokePrincipalTokensResponse;
        set_principal_disabled(pb::SetPrincipalDisabledRequest) -> pb::SetPrincipalDisabledResponse;
        create_credential(pb::CreateCredentialRequest) -> pb::CreateCredentialResponse;
        update_credential_secret(pb::UpdateCredentialSecretRequest) -> pb::UpdateCredentialSecretResponse;
        set_credential_enabled(pb::SetCredentialEnabledRequest) -> pb::SetCredentialEnabledResponse;
        delete_credential(pb::DeleteCredentialRequest) -> pb::DeleteCredentialResponse;
        rename_credential(pb::RenameCredentialRequest) -> pb::RenameCredentialResponse;
        record_credential_test_result(pb::RecordCredentialTestResultRequest) -> pb::RecordCredentialTestResultResponse;
        get_credential(pb::GetCredentialRequest) -> pb::GetCredentialResponse;
        list_credentials(pb::ListCredentialsRequest) -> pb::ListCredentialsResponse;
        list_provider_settings(pb::ListProviderSettingsRequest) -> pb::ListProviderSettingsResponse;
        set_provider_setting(pb::SetProviderSettingRequest) -> pb::SetProviderSettingResponse;
        list_audit_events(pb::ListAuditEventsRequest) -> pb::ListAuditEventsResponse;
        lease_credentials(pb::LeaseCredentialsRequest) -> pb::LeaseCredentialsResponse;
        record_usage(pb::RecordUsageRequest) -> pb::RecordUsageResponse;
        hold_credits(pb::HoldCreditsRequest) -> pb::HoldCreditsResponse;
        record_credential_test(pb::RecordCredentialTestRequest) -> pb::RecordCredentialTestResponse;
        get_balance(pb::GetBalanceRequest) -> pb::GetBalanceResponse;
        grant_credits(pb::GrantCreditsRequest) -> pb::GrantCreditsResponse;
        set_budget(pb::SetBudgetRequest) -> pb::SetBudgetResponse;
        get_usage(pb::GetUsageRequest) -> pb::GetUsageResponse;
        set_rate_limit(pb::SetRateLimitRequest) -> pb::SetRateLimitResponse;
        list_rate_limits(pb::ListRateLimitsRequest) -> pb::ListRateLimitsResponse;
    }
    plain {
        list_principals(pb::ListPrincipalsRequest) -> pb::ListPrincipalsResponse;
        get_principal(pb::GetPrincipalRequest) -> pb::GetPrincipalResponse;
        authenticate(pb::AuthenticateRequest) -> pb::AuthenticateResponse;
    }
}
