//! The connect rules: who may join a namespace, decided from the settings alone. The
//! handshake applies them to a new socket, and a settings change to every connected one, so
//! both read the same two functions.

use std::net::IpAddr;

use crate::access::AccessRules;
use crate::auth::AuthError;
use crate::{Audience, AudienceKind, Settings};

/// The rules that do not depend on who the user is: the IP lists, `requireAuthentication`
/// and the namespace's `requireAuth` for a client without credentials.
pub fn check_before_identity(
    settings: &Settings,
    access: &AccessRules,
    ip: Option<IpAddr>,
    anonymous: bool,
    ns: &str,
) -> Result<(), AuthError> {
    access.check(ip)?;
    if anonymous {
        if settings.security.require_authentication {
            return Err(AuthError::AuthenticationRequired);
        }
        let bare = ns.trim_start_matches('/');
        let list = &settings.namespaces.list;
        if list
            .get(bare)
            .or_else(|| list.get(ns))
            .is_some_and(|n| n.require_auth)
        {
            return Err(AuthError::NamespaceRequiresAuth(ns.to_string()));
        }
    }
    Ok(())
}

/// The rule that depends on the audience: a role whose `canConnect` is off is refused.
pub fn check_audience(settings: &Settings, audience: &Audience) -> Result<(), AuthError> {
    if let AudienceKind::Role { role_type } = &audience.kind
        && settings
            .role_permissions
            .get(role_type)
            .is_some_and(|r| !r.can_connect)
    {
        return Err(AuthError::RoleNotAllowed(audience.name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(doc: serde_json::Value) -> Settings {
        Settings::from_document(&doc).expect("valid settings")
    }

    #[test]
    fn anonymous_clients_follow_require_authentication_and_namespace_require_auth() {
        let s = settings(json!({
            "namespaces": {"enabled": true, "list": {"admin": {"requireAuth": true}, "chat": {}}}
        }));
        let access = AccessRules::new(&s.security);
        assert_eq!(check_before_identity(&s, &access, None, true, "/"), Ok(()));
        assert_eq!(
            check_before_identity(&s, &access, None, true, "/chat"),
            Ok(())
        );
        assert_eq!(
            check_before_identity(&s, &access, None, true, "/admin"),
            Err(AuthError::NamespaceRequiresAuth("/admin".into()))
        );
        assert_eq!(
            check_before_identity(&s, &access, None, false, "/admin"),
            Ok(())
        );
        let strict = settings(json!({"security": {"requireAuthentication": true}}));
        let access = AccessRules::new(&strict.security);
        assert_eq!(
            check_before_identity(&strict, &access, None, true, "/"),
            Err(AuthError::AuthenticationRequired)
        );
        assert_eq!(
            check_before_identity(&strict, &access, None, false, "/"),
            Ok(())
        );
    }

    #[test]
    fn the_ip_lists_come_first() {
        let s = settings(json!({"security": {"ipBlacklist": ["6.6.6.6"]}}));
        let access = AccessRules::new(&s.security);
        let bad: IpAddr = "6.6.6.6".parse().unwrap();
        let good: IpAddr = "8.8.8.8".parse().unwrap();
        assert!(check_before_identity(&s, &access, Some(bad), false, "/").is_err());
        assert_eq!(
            check_before_identity(&s, &access, Some(good), false, "/"),
            Ok(())
        );
    }

    #[test]
    fn a_role_that_may_not_connect_is_refused() {
        let s = settings(json!({"rolePermissions": {"editor": {"canConnect": false}}}));
        let editor = Audience::role("Editor", "editor", Vec::new());
        let reader = Audience::role("Authenticated", "authenticated", Vec::new());
        assert_eq!(
            check_audience(&s, &editor),
            Err(AuthError::RoleNotAllowed("Editor".into()))
        );
        assert_eq!(check_audience(&s, &reader), Ok(()));
    }
}
