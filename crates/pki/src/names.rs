//! Which names a role allows (Vault's `validateNames`), hostname syntax and globs.

use crate::role::Role;

/// Whether `name` is a hostname by Vault's pattern: dot-separated labels of letters, digits
/// and inner hyphens, an optional final dot.
pub(crate) fn is_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Go's `ryanuber/go-glob`: `*` matches any run of characters (dots included), everything
/// else itself, case-sensitively.
pub(crate) fn glob(pattern: &str, subject: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == subject;
    }
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if !subject.starts_with(first) {
        return false;
    }
    let mut rest = &subject[first.len()..];
    for part in parts.iter().skip(1).take(parts.len().saturating_sub(2)) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// The first of `names` the role does not allow, if any (Vault's `validateNames`). `names`
/// holds the common name (unless it is exempt) and the DNS and email SANs.
pub(crate) fn first_disallowed<'a>(role: &Role, names: &'a [String]) -> Option<&'a str> {
    names
        .iter()
        .map(String::as_str)
        .find(|name| !allowed(role, name))
}

fn allowed(role: &Role, name: &str) -> bool {
    let mut sanitized = name;
    let mut email_domain = name;
    let mut is_email = false;
    if name.contains('@') {
        let parts: Vec<&str> = name.split('@').collect();
        let [_, domain] = parts.as_slice() else {
            return false;
        };
        sanitized = domain;
        email_domain = domain;
        is_email = true;
    }
    let mut is_wildcard = false;
    if let Some(base) = sanitized.strip_prefix("*.") {
        if !role.allow_wildcard_certificates {
            return false;
        }
        sanitized = base;
        is_wildcard = true;
    }
    // One wildcard, as the whole leftmost label, and nowhere else (RFC 6125 6.4.3 as this
    // server reads it: `*.example.com`, never `*.*.example.com` or `f*o.example.com`).
    if sanitized.contains('*') {
        return false;
    }
    if role.enforce_hostnames && !is_hostname(sanitized) {
        return false;
    }
    if role.allow_any_name {
        return true;
    }
    if role.allow_localhost
        && (name == "localhost"
            || name == "localdomain"
            || (is_email && (email_domain == "localhost" || email_domain == "localdomain")))
    {
        return true;
    }
    role.allowed_domains.iter().any(|domain| {
        if domain.is_empty() {
            return false;
        }
        if role.allow_bare_domains
            && (sanitized.eq_ignore_ascii_case(domain)
                || (is_email && email_domain.eq_ignore_ascii_case(domain)))
            && !is_wildcard
        {
            return true;
        }
        if role.allow_subdomains {
            let suffix = format!(".{}", domain.to_lowercase());
            if sanitized.to_lowercase().ends_with(&suffix)
                || (is_wildcard && sanitized.eq_ignore_ascii_case(domain))
            {
                return true;
            }
        }
        role.allow_glob_domains && domain.contains('*') && glob(domain, name)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use proptest::prelude::*;

    /// A role with Vault's defaults and `json` over them.
    fn role(json: serde_json::Value) -> Role {
        let mut base = serde_json::to_value(Role::default()).unwrap();
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn hostnames() {
        for good in ["a", "www.example.com", "x-1.example.com.", "1.2.3"] {
            assert!(is_hostname(good), "{good}");
        }
        for bad in [
            "", ".", "-a.com", "a-.com", "a..b", "a_b.com", "*.a.com", "é.com",
        ] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*.example.com", "a.b.example.com"));
        assert!(glob("a*c", "abbbc"));
        assert!(!glob("a*c", "abbb"));
        assert!(glob("*", ""));
        assert!(!glob("exact", "exac"));
        assert!(glob("x*y*z", "xyz"));
    }

    #[test]
    fn domains_subdomains_bare_and_globs() {
        let sub =
            role(serde_json::json!({"allowed_domains": ["example.com"], "allow_subdomains": true}));
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            first_disallowed(&sub, &names(&["www.example.com", "a.b.example.com"])),
            None
        );
        assert_eq!(
            first_disallowed(&sub, &names(&["example.com"])),
            Some("example.com")
        );
        assert_eq!(
            first_disallowed(&sub, &names(&["www.other.org"])),
            Some("www.other.org")
        );
        assert_eq!(
            first_disallowed(&sub, &names(&["wwwexample.com"])),
            Some("wwwexample.com")
        );
        assert_eq!(first_disallowed(&sub, &names(&["*.example.com"])), None);
        let bare = role(
            serde_json::json!({"allowed_domains": ["example.com"], "allow_bare_domains": true}),
        );
        assert_eq!(
            first_disallowed(&bare, &names(&["example.com", "a@example.com"])),
            None
        );
        assert_eq!(
            first_disallowed(&bare, &names(&["www.example.com"])),
            Some("www.example.com")
        );
        let globbed = role(
            serde_json::json!({"allowed_domains": ["*.svc.local"], "allow_glob_domains": true}),
        );
        assert_eq!(
            first_disallowed(&globbed, &names(&["db.ns.svc.local"])),
            None
        );
        // Review finding: one wildcard, as the whole leftmost label only.
        assert!(first_disallowed(&sub, &names(&["*.*.example.com"])).is_some());
        assert!(first_disallowed(&globbed, &names(&["f*o.svc.local"])).is_some());
        let localhost = role(serde_json::json!({"allow_localhost": true}));
        assert_eq!(first_disallowed(&localhost, &names(&["localhost"])), None);
        let any = role(serde_json::json!({"allow_any_name": true}));
        assert_eq!(first_disallowed(&any, &names(&["anything.at.all"])), None);
        assert_eq!(
            first_disallowed(&any, &names(&["not a hostname"])),
            Some("not a hostname")
        );
    }

    proptest! {
        /// A role with `allowed_domains = [d]` and only subdomains allowed certifies exactly the
        /// hostnames that end in `.d`.
        #[test]
        fn subdomains_are_suffixes(label in "[a-z0-9]{1,10}", domain in "[a-z]{1,8}\\.[a-z]{2,3}", other in "[a-z]{1,8}\\.[a-z]{2,3}") {
            let sub = role(serde_json::json!({"allowed_domains": [domain.clone()], "allow_subdomains": true}));
            let inside = vec![format!("{label}.{domain}")];
            prop_assert_eq!(first_disallowed(&sub, &inside), None);
            let outside = vec![format!("{label}.{other}")];
            prop_assert_eq!(first_disallowed(&sub, &outside).is_some(), !other.ends_with(&format!(".{domain}")) && other != domain);
        }
    }
}
