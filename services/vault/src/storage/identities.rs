//! Principals, memberships and gateway tokens.

use super::sql::{Row, Tx, params};

use super::audit::append;
use super::{
    AuditRecord, MembershipRecord, Millis, PrincipalKind, PrincipalRecord, Role, Store, StoreError,
    TokenKind, TokenRecord, parse_enum,
};

/// A principal row as read, before its kind is parsed.
type RawPrincipal = (String, String, String, String, Millis, Option<Millis>);

const PRINCIPAL_COLUMNS: &str = "id, kind, name, email, created_at, disabled_at";

fn principal_from_row(row: &Row<'_>) -> Result<RawPrincipal, StoreError> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn principal(raw: RawPrincipal) -> Result<PrincipalRecord, StoreError> {
    let (id, kind, name, email, created_at, disabled_at) = raw;
    Ok(PrincipalRecord {
        kind: parse_enum(&kind, PrincipalKind::parse, "principal kind")?,
        id,
        name,
        email,
        created_at,
        disabled_at,
    })
}

pub(super) fn get_principal(tx: &Tx<'_>, id: &str) -> Result<Option<PrincipalRecord>, StoreError> {
    tx.query_opt(
        &format!("SELECT {PRINCIPAL_COLUMNS} FROM principals WHERE id = ?1"),
        params![id],
        principal_from_row,
    )?
    .map(principal)
    .transpose()
}

fn require_kind(tx: &Tx<'_>, id: &str, kind: PrincipalKind) -> Result<PrincipalRecord, StoreError> {
    let found = get_principal(tx, id)?
        .ok_or_else(|| StoreError::NotFound(format!("{} {id}", kind.as_str())))?;
    if found.kind != kind {
        return Err(StoreError::Conflict(format!(
            "{id} is a {}, not a {}",
            found.kind.as_str(),
            kind.as_str()
        )));
    }
    Ok(found)
}

fn membership_from_row(
    row: &Row<'_>,
) -> Result<(String, String, String, String, Millis), StoreError> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn membership(
    raw: (String, String, String, String, Millis),
) -> Result<MembershipRecord, StoreError> {
    let (org_id, org_name, user_id, role, created_at) = raw;
    Ok(MembershipRecord {
        role: parse_enum(&role, Role::parse, "role")?,
        org_id,
        org_name,
        user_id,
        created_at,
    })
}

pub(super) fn memberships_of(
    tx: &Tx<'_>,
    user_id: &str,
) -> Result<Vec<MembershipRecord>, StoreError> {
    tx.query_map(
        "SELECT m.org_id, p.name, m.user_id, m.role, m.created_at
         FROM memberships m JOIN principals p ON p.id = m.org_id
         WHERE m.user_id = ?1 ORDER BY m.created_at, m.org_id",
        params![user_id],
        membership_from_row,
    )?
    .into_iter()
    .map(membership)
    .collect()
}

fn token_from_row(row: &Row<'_>) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.get(0)?,
        principal_id: row.get(1)?,
        name: row.get(2)?,
        last_four: row.get(3)?,
        created_at: row.get(4)?,
        revoked_at: row.get(5)?,
        expires_at: row.get(6)?,
        kind: {
            let text: String = row.get(7)?;
            parse_enum(&text, TokenKind::parse, "token kind")?
        },
    })
}

const TOKEN_COLUMNS: &str =
    "id, principal_id, name, last_four, created_at, revoked_at, expires_at, kind";

impl Store {
    /// Creates a user or an org; with `first_owner`, that user becomes the org's owner in the
    /// same transaction.
    pub async fn create_principal(
        &self,
        record: PrincipalRecord,
        first_owner: Option<String>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            if let Some(owner) = &first_owner {
                require_kind(tx, owner, PrincipalKind::User)?;
            }
            tx.execute(
                "INSERT INTO principals (id, kind, name, email, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![record.id, record.kind.as_str(), record.name, record.email, record.created_at],
            )?;
            if let Some(owner) = &first_owner {
                tx.execute(
                    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, 'owner', ?3)",
                    params![record.id, owner, record.created_at],
                )?;
            }
            append(tx, &audit)
        })
        .await
    }

    pub async fn get_principal(&self, id: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let id = id.to_owned();
        self.read(move |tx| get_principal(tx, &id)).await
    }

    /// Principals ordered by id, after `after`, optionally of one kind.
    pub async fn list_principals(
        &self,
        kind: Option<PrincipalKind>,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<PrincipalRecord>, StoreError> {
        self.read(move |tx| {
            tx.query_map(
                &format!(
                    "SELECT {PRINCIPAL_COLUMNS} FROM principals
                     WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1) AND id > ?2 ORDER BY id LIMIT ?3"
                ),
                params![
                    kind.map(PrincipalKind::as_str),
                    after.clone().unwrap_or_default(),
                    limit
                ],
                principal_from_row,
            )?
            .into_iter()
            .map(principal)
            .collect()
        })
        .await
    }

    /// Adds a user to an org, or changes their role if already a member.
    pub async fn put_member(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
        now: Millis,
        audit: AuditRecord,
    ) -> Result<MembershipRecord, StoreError> {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        self.write(move |tx| {
            let org = require_kind(tx, &org_id, PrincipalKind::Org)?;
            require_kind(tx, &user_id, PrincipalKind::User)?;
            tx.execute(
                "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                params![org_id, user_id, role.as_str(), now],
            )?;
            append(tx, &audit)?;
            let created_at = tx.query_row(
                "SELECT created_at FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
                |row| row.get(0),
            )?;
            Ok(MembershipRecord {
                org_id: org_id.clone(),
                org_name: org.name,
                user_id: user_id.clone(),
                role,
                created_at,
            })
        })
        .await
    }

    /// Removes a membership; an org keeps at least one owner.
    pub async fn remove_member(
        &self,
        org_id: &str,
        user_id: &str,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        self.write(move |tx| {
            let role: Option<String> = tx.query_opt(
                "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
                |row| row.get(0),
            )?;
            let Some(role) = role else {
                return Err(StoreError::NotFound(format!(
                    "membership of {user_id} in {org_id}"
                )));
            };
            if role == Role::Owner.as_str() {
                let owners: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM memberships WHERE org_id = ?1 AND role = 'owner'",
                    params![org_id],
                    |row| row.get(0),
                )?;
                if owners <= 1 {
                    return Err(StoreError::Conflict(format!(
                        "{user_id} is the last owner of {org_id}"
                    )));
                }
            }
            tx.execute(
                "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
            )?;
            append(tx, &audit)
        })
        .await
    }

    /// A user's org memberships, oldest first: the order org keys are tried in.
    pub async fn memberships_of(&self, user_id: &str) -> Result<Vec<MembershipRecord>, StoreError> {
        let user_id = user_id.to_owned();
        self.read(move |tx| memberships_of(tx, &user_id)).await
    }

    pub async fn role_in(&self, org_id: &str, user_id: &str) -> Result<Option<Role>, StoreError> {
        let (org_id, user_id) = (org_id.to_owned(), user_id.to_owned());
        self.read(move |tx| {
            let role: Option<String> = tx.query_opt(
                "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                params![org_id, user_id],
                |row| row.get(0),
            )?;
            role.map(|role| parse_enum(&role, Role::parse, "role"))
                .transpose()
        })
        .await
    }

    /// Stores a token's hash and metadata.
    pub async fn insert_token(
        &self,
        record: TokenRecord,
        hash: [u8; 32],
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            get_principal(tx, &record.principal_id)?.ok_or_else(|| StoreError::NotFound(format!("principal {}", record.principal_id)))?;
            tx.execute(
                "INSERT INTO tokens (id, principal_id, hash, name, last_four, created_at, expires_at, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![record.id, record.principal_id, hash.as_slice(), record.name, record.last_four, record.created_at, record.expires_at, record.kind.as_str()],
            )?;
            append(tx, &audit)
        })
        .await
    }

    /// Inserts a session token, spending the sign-in token `spent` in the same transaction
    /// when given: a sign-in token already spent (or revoked) is a conflict and nothing is
    /// inserted, so two exchanges of one code cannot both succeed.
    ///
    /// `parent` is the token the session was started from (none for a sign-in code): revoking
    /// it revokes the session too.
    pub async fn insert_session(
        &self,
        record: TokenRecord,
        hash: [u8; 32],
        spent: Option<String>,
        parent: Option<String>,
        audit: AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(move |tx| {
            if let Some(id) = &spent {
                let changed = tx.execute(
                    "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![id, record.created_at],
                )?;
                if changed == 0 {
                    return Err(StoreError::Conflict("the sign-in code was used already".into()));
                }
            }
            tx.execute(
                "INSERT INTO tokens (id, principal_id, hash, name, last_four, created_at, expires_at, kind, parent_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![record.id, record.principal_id, hash.as_slice(), record.name, record.last_four, record.created_at, record.expires_at, record.kind.as_str(), parent],
            )?;
            append(tx, &audit)
        })
        .await
    }

    /// The token with this hash, revoked or not.
    pub async fn token_by_hash(&self, hash: [u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.read(move |tx| {
            tx.query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"),
                params![hash.as_slice()],
                token_from_row,
            )
        })
        .await
    }

    /// Marks a token revoked (idempotent: a second revoke keeps the first time), and with it
    /// every live session started from it, directly or through another session. Returns the
    /// token and the sessions this call revoked.
    pub async fn revoke_token(
        &self,
        id: &str,
        now: Millis,
        audit: AuditRecord,
    ) -> Result<(TokenRecord, Vec<TokenRecord>), StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            let record = tx
                .query_opt(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                    params![id],
                    token_from_row,
                )?
                .ok_or_else(|| StoreError::NotFound(format!("token {id}")))?;
            let descendants = "WITH RECURSIVE started(id) AS (
                   SELECT id FROM tokens WHERE parent_id = ?1
                   UNION SELECT tokens.id FROM tokens JOIN started ON tokens.parent_id = started.id
                 )";
            let mut sessions = tx.query_map(
                &format!(
                    "{descendants} SELECT {TOKEN_COLUMNS} FROM tokens
                     WHERE id IN (SELECT id FROM started) AND revoked_at IS NULL ORDER BY id"
                ),
                params![id],
                token_from_row,
            )?;
            tx.execute(
                &format!(
                    "{descendants} UPDATE tokens SET revoked_at = ?2
                     WHERE id IN (SELECT id FROM started) AND revoked_at IS NULL"
                ),
                params![id, now],
            )?;
            for session in &mut sessions {
                session.revoked_at = Some(now);
            }
            append(tx, &audit)?;
            Ok((record, sessions))
        })
        .await
    }

    /// Revokes every live token of a principal; returns those it revoked.
    pub async fn revoke_principal_tokens(
        &self,
        principal_id: &str,
        now: Millis,
        audit: AuditRecord,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let principal_id = principal_id.to_owned();
        self.write(move |tx| {
            get_principal(tx, &principal_id)?
                .ok_or_else(|| StoreError::NotFound(format!("principal {principal_id}")))?;
            let mut revoked = tx.query_map(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens
                     WHERE principal_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id"
                ),
                params![principal_id],
                token_from_row,
            )?;
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE principal_id = ?1 AND revoked_at IS NULL",
                params![principal_id, now],
            )?;
            for token in &mut revoked {
                token.revoked_at = Some(now);
            }
            append(tx, &audit)?;
            Ok(revoked)
        })
        .await
    }

    /// Disables (keeping the first time) or enables a user or org.
    pub async fn set_principal_disabled(
        &self,
        id: &str,
        disabled: bool,
        now: Millis,
        audit: AuditRecord,
    ) -> Result<PrincipalRecord, StoreError> {
        let id = id.to_owned();
        self.write(move |tx| {
            let found = get_principal(tx, &id)?
                .ok_or_else(|| StoreError::NotFound(format!("principal {id}")))?;
            if found.kind == PrincipalKind::Platform {
                return Err(StoreError::Conflict(format!(
                    "{id} is the platform; only users and orgs can be disabled"
                )));
            }
            tx.execute(
                "UPDATE principals SET disabled_at = CASE WHEN ?2 THEN COALESCE(disabled_at, ?3) END
                 WHERE id = ?1",
                params![id, disabled, now],
            )?;
            append(tx, &audit)?;
            get_principal(tx, &id)?.ok_or_else(|| StoreError::NotFound(format!("principal {id}")))
        })
        .await
    }

    /// The principal a token belongs to, for auditing its revocation under that owner.
    pub async fn token_owner(&self, token_id: &str) -> Result<Option<String>, StoreError> {
        let token_id = token_id.to_owned();
        self.read(move |tx| {
            tx.query_opt(
                "SELECT principal_id FROM tokens WHERE id = ?1",
                params![token_id],
                |row| row.get(0),
            )
        })
        .await
    }

    pub async fn list_tokens(&self, principal_id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let principal_id = principal_id.to_owned();
        self.read(move |tx| {
            tx.query_map(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens WHERE principal_id = ?1 ORDER BY created_at, id"
                ),
                params![principal_id],
                token_from_row,
            )
        })
        .await
    }
}
