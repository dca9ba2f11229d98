import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PrincipalKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRINCIPAL_KIND_UNSPECIFIED: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_USER: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_ORG: _ClassVar[PrincipalKind]
    PRINCIPAL_KIND_PLATFORM: _ClassVar[PrincipalKind]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_OWNER: _ClassVar[Role]
    ROLE_BILLING_MANAGER: _ClassVar[Role]
    ROLE_MEMBER: _ClassVar[Role]

class TokenKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TOKEN_KIND_UNSPECIFIED: _ClassVar[TokenKind]
    TOKEN_KIND_API: _ClassVar[TokenKind]
    TOKEN_KIND_SESSION: _ClassVar[TokenKind]
    TOKEN_KIND_SIGN_IN: _ClassVar[TokenKind]

class ProviderMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVIDER_MODE_UNSPECIFIED: _ClassVar[ProviderMode]
    PROVIDER_MODE_MANAGED: _ClassVar[ProviderMode]
    PROVIDER_MODE_CUSTOM_KEY: _ClassVar[ProviderMode]
    PROVIDER_MODE_DISABLED: _ClassVar[ProviderMode]

class FallbackPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FALLBACK_POLICY_UNSPECIFIED: _ClassVar[FallbackPolicy]
    FALLBACK_POLICY_NEVER: _ClassVar[FallbackPolicy]
    FALLBACK_POLICY_WHEN_NO_KEY: _ClassVar[FallbackPolicy]
    FALLBACK_POLICY_WHEN_KEY_FAILS: _ClassVar[FallbackPolicy]

class RevocationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_KIND_UNSPECIFIED: _ClassVar[RevocationKind]
    REVOCATION_KIND_CREDENTIAL_DISABLED: _ClassVar[RevocationKind]
    REVOCATION_KIND_CREDENTIAL_UPDATED: _ClassVar[RevocationKind]
    REVOCATION_KIND_CREDENTIAL_DELETED: _ClassVar[RevocationKind]
    REVOCATION_KIND_TOKEN_REVOKED: _ClassVar[RevocationKind]
    REVOCATION_KIND_MEMBERSHIP_CHANGED: _ClassVar[RevocationKind]
    REVOCATION_KIND_PROVIDER_SETTING_CHANGED: _ClassVar[RevocationKind]
    REVOCATION_KIND_RESYNC: _ClassVar[RevocationKind]
    REVOCATION_KIND_CREDENTIAL_CREATED: _ClassVar[RevocationKind]
    REVOCATION_KIND_PRINCIPAL_DISABLED: _ClassVar[RevocationKind]
    REVOCATION_KIND_PRINCIPAL_TOKENS_REVOKED: _ClassVar[RevocationKind]
    REVOCATION_KIND_PRINCIPAL_ENABLED: _ClassVar[RevocationKind]

class UsageSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_SOURCE_UNSPECIFIED: _ClassVar[UsageSource]
    USAGE_SOURCE_BYOK: _ClassVar[UsageSource]
    USAGE_SOURCE_MANAGED: _ClassVar[UsageSource]

class RateLimitScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATE_LIMIT_SCOPE_UNSPECIFIED: _ClassVar[RateLimitScope]
    RATE_LIMIT_SCOPE_PRINCIPAL: _ClassVar[RateLimitScope]
    RATE_LIMIT_SCOPE_ORG: _ClassVar[RateLimitScope]
    RATE_LIMIT_SCOPE_CREDENTIAL: _ClassVar[RateLimitScope]
    RATE_LIMIT_SCOPE_MANAGED_MODEL: _ClassVar[RateLimitScope]
PRINCIPAL_KIND_UNSPECIFIED: PrincipalKind
PRINCIPAL_KIND_USER: PrincipalKind
PRINCIPAL_KIND_ORG: PrincipalKind
PRINCIPAL_KIND_PLATFORM: PrincipalKind
ROLE_UNSPECIFIED: Role
ROLE_OWNER: Role
ROLE_BILLING_MANAGER: Role
ROLE_MEMBER: Role
TOKEN_KIND_UNSPECIFIED: TokenKind
TOKEN_KIND_API: TokenKind
TOKEN_KIND_SESSION: TokenKind
TOKEN_KIND_SIGN_IN: TokenKind
PROVIDER_MODE_UNSPECIFIED: ProviderMode
PROVIDER_MODE_MANAGED: ProviderMode
PROVIDER_MODE_CUSTOM_KEY: ProviderMode
PROVIDER_MODE_DISABLED: ProviderMode
FALLBACK_POLICY_UNSPECIFIED: FallbackPolicy
FALLBACK_POLICY_NEVER: FallbackPolicy
FALLBACK_POLICY_WHEN_NO_KEY: FallbackPolicy
FALLBACK_POLICY_WHEN_KEY_FAILS: FallbackPolicy
REVOCATION_KIND_UNSPECIFIED: RevocationKind
REVOCATION_KIND_CREDENTIAL_DISABLED: RevocationKind
REVOCATION_KIND_CREDENTIAL_UPDATED: RevocationKind
REVOCATION_KIND_CREDENTIAL_DELETED: RevocationKind
REVOCATION_KIND_TOKEN_REVOKED: RevocationKind
REVOCATION_KIND_MEMBERSHIP_CHANGED: RevocationKind
REVOCATION_KIND_PROVIDER_SETTING_CHANGED: RevocationKind
REVOCATION_KIND_RESYNC: RevocationKind
REVOCATION_KIND_CREDENTIAL_CREATED: RevocationKind
REVOCATION_KIND_PRINCIPAL_DISABLED: RevocationKind
REVOCATION_KIND_PRINCIPAL_TOKENS_REVOKED: RevocationKind
REVOCATION_KIND_PRINCIPAL_ENABLED: RevocationKind
USAGE_SOURCE_UNSPECIFIED: UsageSource
USAGE_SOURCE_BYOK: UsageSource
USAGE_SOURCE_MANAGED: UsageSource
RATE_LIMIT_SCOPE_UNSPECIFIED: RateLimitScope
RATE_LIMIT_SCOPE_PRINCIPAL: RateLimitScope
RATE_LIMIT_SCOPE_ORG: RateLimitScope
RATE_LIMIT_SCOPE_CREDENTIAL: RateLimitScope
RATE_LIMIT_SCOPE_MANAGED_MODEL: RateLimitScope

class Principal(_message.Message):
    __slots__ = ("id", "kind", "name", "email", "created_at", "disabled_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DISABLED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: PrincipalKind
    name: str
    email: str
    created_at: _timestamp_pb2.Timestamp
    disabled_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[PrincipalKind, str]] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disabled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("org_id", "org_name", "user_id", "role", "created_at")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    org_name: str
    user_id: str
    role: Role
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, org_id: _Optional[str] = ..., org_name: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("name", "email")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    email: str
    def __init__(self, name: _Optional[str] = ..., email: _Optional[str] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: Principal
    def __init__(self, user: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class CreateOrgRequest(_message.Message):
    __slots__ = ("name", "owner_user_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner_user_id: str
    def __init__(self, name: _Optional[str] = ..., owner_user_id: _Optional[str] = ...) -> None: ...

class CreateOrgResponse(_message.Message):
    __slots__ = ("org",)
    ORG_FIELD_NUMBER: _ClassVar[int]
    org: Principal
    def __init__(self, org: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("org_id", "user_id", "role")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    user_id: str
    role: Role
    def __init__(self, org_id: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ...) -> None: ...

class AddMemberResponse(_message.Message):
    __slots__ = ("membership",)
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    membership: Membership
    def __init__(self, membership: _Optional[_Union[Membership, _Mapping]] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("org_id", "user_id")
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    org_id: str
    user_id: str
    def __init__(self, org_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPrincipalsRequest(_message.Message):
    __slots__ = ("kind", "page_size", "page_token")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    kind: PrincipalKind
    page_size: int
    page_token: str
    def __init__(self, kind: _Optional[_Union[PrincipalKind, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPrincipalsResponse(_message.Message):
    __slots__ = ("principals", "next_page_token")
    PRINCIPALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    principals: _containers.RepeatedCompositeFieldContainer[Principal]
    next_page_token: str
    def __init__(self, principals: _Optional[_Iterable[_Union[Principal, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPrincipalRequest(_message.Message):
    __slots__ = ("principal_id",)
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    def __init__(self, principal_id: _Optional[str] = ...) -> None: ...

class GetPrincipalResponse(_message.Message):
    __slots__ = ("principal", "memberships")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    memberships: _containers.RepeatedCompositeFieldContainer[Membership]
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., memberships: _Optional[_Iterable[_Union[Membership, _Mapping]]] = ...) -> None: ...

class SetPrincipalDisabledRequest(_message.Message):
    __slots__ = ("principal_id", "disabled")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    disabled: bool
    def __init__(self, principal_id: _Optional[str] = ..., disabled: _Optional[bool] = ...) -> None: ...

class SetPrincipalDisabledResponse(_message.Message):
    __slots__ = ("principal",)
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("id", "principal_id", "name", "last_four", "created_at", "revoked_at", "expires_at", "kind")
    ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FOUR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    id: str
    principal_id: str
    name: str
    last_four: str
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    kind: TokenKind
    def __init__(self, id: _Optional[str] = ..., principal_id: _Optional[str] = ..., name: _Optional[str] = ..., last_four: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[TokenKind, str]] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ("principal_id", "name", "expires_in", "kind")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    name: str
    expires_in: _duration_pb2.Duration
    kind: TokenKind
    def __init__(self, principal_id: _Optional[str] = ..., name: _Optional[str] = ..., expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., kind: _Optional[_Union[TokenKind, str]] = ...) -> None: ...

class IssueTokenResponse(_message.Message):
    __slots__ = ("info", "token")
    INFO_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    info: TokenInfo
    token: str
    def __init__(self, info: _Optional[_Union[TokenInfo, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class StartSessionResponse(_message.Message):
    __slots__ = ("info", "token")
    INFO_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    info: TokenInfo
    token: str
    def __init__(self, info: _Optional[_Union[TokenInfo, _Mapping]] = ..., token: _Optional[str] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_id",)
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    def __init__(self, token_id: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: TokenInfo
    def __init__(self, info: _Optional[_Union[TokenInfo, _Mapping]] = ...) -> None: ...

class RevokePrincipalTokensRequest(_message.Message):
    __slots__ = ("principal_id",)
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    def __init__(self, principal_id: _Optional[str] = ...) -> None: ...

class RevokePrincipalTokensResponse(_message.Message):
    __slots__ = ("revoked",)
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    revoked: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, revoked: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("principal_id",)
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    def __init__(self, principal_id: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class AuthenticateResponse(_message.Message):
    __slots__ = ("principal", "memberships", "token_id", "token_expires_at", "token_kind")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIPS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_KIND_FIELD_NUMBER: _ClassVar[int]
    principal: Principal
    memberships: _containers.RepeatedCompositeFieldContainer[Membership]
    token_id: str
    token_expires_at: _timestamp_pb2.Timestamp
    token_kind: TokenKind
    def __init__(self, principal: _Optional[_Union[Principal, _Mapping]] = ..., memberships: _Optional[_Iterable[_Union[Membership, _Mapping]]] = ..., token_id: _Optional[str] = ..., token_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., token_kind: _Optional[_Union[TokenKind, str]] = ...) -> None: ...

class StartSessionRequest(_message.Message):
    __slots__ = ("expires_in", "name")
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    expires_in: _duration_pb2.Duration
    name: str
    def __init__(self, expires_in: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("id", "owner_id", "provider", "label", "enabled", "config", "fingerprint", "created_at", "updated_at", "last_tested_at", "last_test_outcome")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_TESTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_TEST_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: str
    owner_id: str
    provider: str
    label: str
    enabled: bool
    config: _containers.ScalarMap[str, str]
    fingerprint: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    last_tested_at: _timestamp_pb2.Timestamp
    last_test_outcome: str
    def __init__(self, id: _Optional[str] = ..., owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., label: _Optional[str] = ..., enabled: _Optional[bool] = ..., config: _Optional[_Mapping[str, str]] = ..., fingerprint: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_tested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_test_outcome: _Optional[str] = ...) -> None: ...

class CreateCredentialRequest(_message.Message):
    __slots__ = ("owner_id", "provider", "label", "secret", "config", "disabled")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    provider: str
    label: str
    secret: str
    config: _containers.ScalarMap[str, str]
    disabled: bool
    def __init__(self, owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., label: _Optional[str] = ..., secret: _Optional[str] = ..., config: _Optional[_Mapping[str, str]] = ..., disabled: _Optional[bool] = ...) -> None: ...

class CreateCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class UpdateCredentialSecretRequest(_message.Message):
    __slots__ = ("credential_id", "secret", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    secret: str
    config: _containers.ScalarMap[str, str]
    def __init__(self, credential_id: _Optional[str] = ..., secret: _Optional[str] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UpdateCredentialSecretResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class SetCredentialEnabledRequest(_message.Message):
    __slots__ = ("credential_id", "enabled")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    enabled: bool
    def __init__(self, credential_id: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetCredentialEnabledResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class DeleteCredentialRequest(_message.Message):
    __slots__ = ("credential_id",)
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    def __init__(self, credential_id: _Optional[str] = ...) -> None: ...

class DeleteCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class RenameCredentialRequest(_message.Message):
    __slots__ = ("credential_id", "label")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    label: str
    def __init__(self, credential_id: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class RenameCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class RecordCredentialTestResultRequest(_message.Message):
    __slots__ = ("credential_id", "outcome")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    outcome: str
    def __init__(self, credential_id: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class RecordCredentialTestResultResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class GetCredentialRequest(_message.Message):
    __slots__ = ("credential_id",)
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    def __init__(self, credential_id: _Optional[str] = ...) -> None: ...

class GetCredentialResponse(_message.Message):
    __slots__ = ("credential",)
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class ListCredentialsRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class ListCredentialsResponse(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    def __init__(self, credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ...) -> None: ...

class ProviderSetting(_message.Message):
    __slots__ = ("owner_id", "provider", "mode", "fallback_policy", "updated_at")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    provider: str
    mode: ProviderMode
    fallback_policy: FallbackPolicy
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., mode: _Optional[_Union[ProviderMode, str]] = ..., fallback_policy: _Optional[_Union[FallbackPolicy, str]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListProviderSettingsRequest(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    def __init__(self, owner_id: _Optional[str] = ...) -> None: ...

class ListProviderSettingsResponse(_message.Message):
    __slots__ = ("settings",)
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    settings: _containers.RepeatedCompositeFieldContainer[ProviderSetting]
    def __init__(self, settings: _Optional[_Iterable[_Union[ProviderSetting, _Mapping]]] = ...) -> None: ...

class SetProviderSettingRequest(_message.Message):
    __slots__ = ("owner_id", "provider", "mode", "fallback_policy")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_POLICY_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    provider: str
    mode: ProviderMode
    fallback_policy: FallbackPolicy
    def __init__(self, owner_id: _Optional[str] = ..., provider: _Optional[str] = ..., mode: _Optional[_Union[ProviderMode, str]] = ..., fallback_policy: _Optional[_Union[FallbackPolicy, str]] = ...) -> None: ...

class SetProviderSettingResponse(_message.Message):
    __slots__ = ("setting",)
    SETTING_FIELD_NUMBER: _ClassVar[int]
    setting: ProviderSetting
    def __init__(self, setting: _Optional[_Union[ProviderSetting, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "time", "actor", "peer", "action", "target", "owner_id", "request_id", "detail")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: _timestamp_pb2.Timestamp
    actor: str
    peer: str
    action: str
    target: str
    owner_id: str
    request_id: str
    detail: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., peer: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., owner_id: _Optional[str] = ..., request_id: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("owner_id", "page_size", "page_token")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    page_size: int
    page_token: str
    def __init__(self, owner_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LeaseCredentialsRequest(_message.Message):
    __slots__ = ("principal_id",)
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    def __init__(self, principal_id: _Optional[str] = ...) -> None: ...

class LeasedCredential(_message.Message):
    __slots__ = ("credential", "secret", "owner_kind")
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    OWNER_KIND_FIELD_NUMBER: _ClassVar[int]
    credential: Credential
    secret: str
    owner_kind: PrincipalKind
    def __init__(self, credential: _Optional[_Union[Credential, _Mapping]] = ..., secret: _Optional[str] = ..., owner_kind: _Optional[_Union[PrincipalKind, str]] = ...) -> None: ...

class LeaseCredentialsResponse(_message.Message):
    __slots__ = ("lease_id", "expires_at", "credentials", "provider_settings", "unreadable", "rate_limits")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UNREADABLE_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    expires_at: _timestamp_pb2.Timestamp
    credentials: _containers.RepeatedCompositeFieldContainer[LeasedCredential]
    provider_settings: _containers.RepeatedCompositeFieldContainer[ProviderSetting]
    unreadable: _containers.RepeatedCompositeFieldContainer[UnreadableCredential]
    rate_limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    def __init__(self, lease_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credentials: _Optional[_Iterable[_Union[LeasedCredential, _Mapping]]] = ..., provider_settings: _Optional[_Iterable[_Union[ProviderSetting, _Mapping]]] = ..., unreadable: _Optional[_Iterable[_Union[UnreadableCredential, _Mapping]]] = ..., rate_limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ...) -> None: ...

class UnreadableCredential(_message.Message):
    __slots__ = ("credential_id", "owner_id", "reason")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    owner_id: str
    reason: str
    def __init__(self, credential_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchRevocationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchRevocationsResponse(_message.Message):
    __slots__ = ("kind", "credential_id", "owner_id", "token_id", "time", "principal_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    kind: RevocationKind
    credential_id: str
    owner_id: str
    token_id: str
    time: _timestamp_pb2.Timestamp
    principal_id: str
    def __init__(self, kind: _Optional[_Union[RevocationKind, str]] = ..., credential_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., token_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., principal_id: _Optional[str] = ...) -> None: ...

class RotateKekRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RotateKekResponse(_message.Message):
    __slots__ = ("active_version", "rewrapped", "versions_in_use", "skipped")
    ACTIVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    REWRAPPED_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_IN_USE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    active_version: int
    rewrapped: int
    versions_in_use: _containers.RepeatedScalarFieldContainer[int]
    skipped: _containers.RepeatedCompositeFieldContainer[UnreadableCredential]
    def __init__(self, active_version: _Optional[int] = ..., rewrapped: _Optional[int] = ..., versions_in_use: _Optional[_Iterable[int]] = ..., skipped: _Optional[_Iterable[_Union[UnreadableCredential, _Mapping]]] = ...) -> None: ...

class RecordCredentialTestRequest(_message.Message):
    __slots__ = ("credential_id", "principal_id", "outcome", "model", "latency_ms")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    principal_id: str
    outcome: str
    model: str
    latency_ms: int
    def __init__(self, credential_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., outcome: _Optional[str] = ..., model: _Optional[str] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class RecordCredentialTestResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UsageRecord(_message.Message):
    __slots__ = ("request_id", "principal_id", "credential_id", "credential_owner_id", "source", "provider", "model", "input_tokens", "output_tokens", "cost_micros", "time", "usage_id", "hold_id", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    USAGE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_1H_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    principal_id: str
    credential_id: str
    credential_owner_id: str
    source: UsageSource
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    time: _timestamp_pb2.Timestamp
    usage_id: str
    hold_id: str
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    def __init__(self, request_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., credential_id: _Optional[str] = ..., credential_owner_id: _Optional[str] = ..., source: _Optional[_Union[UsageSource, str]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., usage_id: _Optional[str] = ..., hold_id: _Optional[str] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., cache_write_1h_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("recorded", "duplicates")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    duplicates: int
    def __init__(self, recorded: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("owner_id", "monthly_cap_micros", "month_spend_micros")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_CAP_MICROS_FIELD_NUMBER: _ClassVar[int]
    MONTH_SPEND_MICROS_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    monthly_cap_micros: int
    month_spend_micros: int
    def __init__(self, owner_id: _Optional[str] = ..., monthly_cap_micros: _Optional[int] = ..., month_spend_micros: _Optional[int] = ...) -> None: ...

class HoldCreditsRequest(_message.Message):
    __slots__ = ("hold_id", "principal_id", "micros", "ttl_seconds")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    MICROS_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    principal_id: str
    micros: int
    ttl_seconds: int
    def __init__(self, hold_id: _Optional[str] = ..., principal_id: _Optional[str] = ..., micros: _Optional[int] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class HoldCreditsResponse(_message.Message):
    __slots__ = ("granted", "held_micros", "balance_micros", "held_by_others_micros")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    HELD_MICROS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    HELD_BY_OTHERS_MICROS_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    held_micros: int
    balance_micros: int
    held_by_others_micros: int
    def __init__(self, granted: _Optional[bool] = ..., held_micros: _Optional[int] = ..., balance_micros: _Optional[int] = ..., held_by_others_micros: _Optional[int] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("principal_id",)
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    def __init__(self, principal_id: _Optional[str] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("principal_id", "balance_micros", "month", "budget", "org_budgets", "rate_limits")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    ORG_BUDGETS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    balance_micros: int
    month: str
    budget: Budget
    org_budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    rate_limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    def __init__(self, principal_id: _Optional[str] = ..., balance_micros: _Optional[int] = ..., month: _Optional[str] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., org_budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ..., rate_limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ...) -> None: ...

class GrantCreditsRequest(_message.Message):
    __slots__ = ("principal_id", "micros", "reason")
    PRINCIPAL_ID_FIELD_NUMBER: _ClassVar[int]
    MICROS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    principal_id: str
    micros: int
    reason: str
    def __init__(self, principal_id: _Optional[str] = ..., micros: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GrantCreditsResponse(_message.Message):
    __slots__ = ("balance_micros",)
    BALANCE_MICROS_FIELD_NUMBER: _ClassVar[int]
    balance_micros: int
    def __init__(self, balance_micros: _Optional[int] = ...) -> None: ...

class SetBudgetRequest(_message.Message):
    __slots__ = ("owner_id", "monthly_cap_micros")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_CAP_MICROS_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    monthly_cap_micros: int
    def __init__(self, owner_id: _Optional[str] = ..., monthly_cap_micros: _Optional[int] = ...) -> None: ...

class SetBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: Budget
    def __init__(self, budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("owner_id", "month")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    month: str
    def __init__(self, owner_id: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

class GetDailyUsageRequest(_message.Message):
    __slots__ = ("owner_id", "month")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    owner_id: str
    month: str
    def __init__(self, owner_id: _Optional[str] = ..., month: _Optional[str] = ...) -> None: ...

class UsageLine(_message.Message):
    __slots__ = ("provider", "model", "source", "requests", "input_tokens", "output_tokens", "cost_micros", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_1H_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    source: UsageSource
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    reasoning_tokens: int
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., source: _Optional[_Union[UsageSource, str]] = ..., requests: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., cache_write_1h_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("month", "lines", "total_cost_micros", "total")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    month: str
    lines: _containers.RepeatedCompositeFieldContainer[UsageLine]
    total_cost_micros: int
    total: UsageLine
    def __init__(self, month: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[UsageLine, _Mapping]]] = ..., total_cost_micros: _Optional[int] = ..., total: _Optional[_Union[UsageLine, _Mapping]] = ...) -> None: ...

class UsageDay(_message.Message):
    __slots__ = ("date", "requests", "cost_micros", "byok_requests", "managed_requests", "byok_cost_micros", "managed_cost_micros")
    DATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    BYOK_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    MANAGED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BYOK_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    MANAGED_COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    date: str
    requests: int
    cost_micros: int
    byok_requests: int
    managed_requests: int
    byok_cost_micros: int
    managed_cost_micros: int
    def __init__(self, date: _Optional[str] = ..., requests: _Optional[int] = ..., cost_micros: _Optional[int] = ..., byok_requests: _Optional[int] = ..., managed_requests: _Optional[int] = ..., byok_cost_micros: _Optional[int] = ..., managed_cost_micros: _Optional[int] = ...) -> None: ...

class GetDailyUsageResponse(_message.Message):
    __slots__ = ("month", "days")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    month: str
    days: _containers.RepeatedCompositeFieldContainer[UsageDay]
    def __init__(self, month: _Optional[str] = ..., days: _Optional[_Iterable[_Union[UsageDay, _Mapping]]] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("scope", "target_id", "requests_per_minute", "tokens_per_minute", "set_by_operator", "updated_at")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    SET_BY_OPERATOR_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    scope: RateLimitScope
    target_id: str
    requests_per_minute: int
    tokens_per_minute: int
    set_by_operator: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, scope: _Optional[_Union[RateLimitScope, str]] = ..., target_id: _Optional[str] = ..., requests_per_minute: _Optional[int] = ..., tokens_per_minute: _Optional[int] = ..., set_by_operator: _Optional[bool] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetRateLimitRequest(_message.Message):
    __slots__ = ("scope", "target_id", "requests_per_minute", "tokens_per_minute")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    scope: RateLimitScope
    target_id: str
    requests_per_minute: int
    tokens_per_minute: int
    def __init__(self, scope: _Optional[_Union[RateLimitScope, str]] = ..., target_id: _Optional[str] = ..., requests_per_minute: _Optional[int] = ..., tokens_per_minute: _Optional[int] = ...) -> None: ...

class SetRateLimitResponse(_message.Message):
    __slots__ = ("rate_limit",)
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    rate_limit: RateLimit
    def __init__(self, rate_limit: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...

class ListRateLimitsRequest(_message.Message):
    __slots__ = ("scope", "target_id")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    scope: RateLimitScope
    target_id: str
    def __init__(self, scope: _Optional[_Union[RateLimitScope, str]] = ..., target_id: _Optional[str] = ...) -> None: ...

class ListRateLimitsResponse(_message.Message):
    __slots__ = ("rate_limits",)
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    rate_limits: _containers.RepeatedCompositeFieldContainer[RateLimit]
    def __init__(self, rate_limits: _Optional[_Iterable[_Union[RateLimit, _Mapping]]] = ...) -> None: ...
