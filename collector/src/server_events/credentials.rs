//! Who may send a pixel's server events: whoever holds its Conversions API access token
//! (`--pixel ID=TOKEN`, what the store's server already sends to Meta) or its `--server-key`
//! (a key the store can be given without the token).
//!
//! The credential is the first of `Authorization: Bearer`, the body's `access_token` and the
//! query string's `access_token` (Meta's SDKs put it in the query). It is compared with both
//! configured secrets in constant time: the SHA-256 digests of the offered and the expected
//! value are compared byte by byte without an early exit, so the time taken says nothing about
//! either value, not even its length, nor which of the two matched. An `appsecret_proof`, when
//! sent and `--app-secret` is configured, must be HMAC-SHA256(app secret, credential), as Meta
//! checks it; without `--app-secret` it is ignored.

use sha2::{Digest, Sha256};

use super::answer::{ApiError, Kind};
use super::body::Params;
use crate::config::PixelConfig;
use crate::relay::capi::appsecret_proof;

/// The secrets of a pixel and the request's credential.
pub struct Check<'a> {
    pub pixel: &'a PixelConfig,
    pub server_key: Option<&'a str>,
    pub app_secret: Option<&'a str>,
    /// The offered credential, `None` when the request carried none.
    pub offered: Option<&'a str>,
    pub appsecret_proof: Option<&'a str>,
}

/// Whether a pixel takes server events at all: `Err` (403) when it has neither secret.
pub fn accepts_server_events(
    pixel: &PixelConfig,
    server_key: Option<&str>,
) -> Result<(), ApiError> {
    if pixel.token.is_none() && server_key.is_none() {
        return Err(ApiError::new(
            Kind::NoCredentials,
            "this pixel cannot receive server events: the collector has neither its access token (--pixel ID=TOKEN) nor a server key (--server-key ID=KEY)",
        ));
    }
    Ok(())
}

/// The request's credential: `Authorization: Bearer`, else `access_token` from the body, else
/// from the query string (`params` already prefers the body's).
pub fn offered<'a>(bearer: Option<&'a str>, params: &'a Params) -> Option<&'a str> {
    bearer.or(params.access_token.as_deref())
}

impl Check<'_> {
    /// `Ok` when the credential is one of the pixel's secrets (and the proof, if checked, is
    /// right).
    pub fn verify(&self) -> Result<(), ApiError> {
        accepts_server_events(self.pixel, self.server_key)?;
        let Some(offered) = self.offered else {
            return Err(ApiError::new(
                Kind::MissingToken,
                "An access token is required to request this resource: send the pixel's access token or server key as Authorization: Bearer, or as access_token",
            ));
        };
        let offered_digest = digest(offered);
        // Both compared every time (`|`, not `||`): which one matched takes no longer.
        let token = self
            .pixel
            .token
            .as_deref()
            .is_some_and(|t| same(&offered_digest, &digest(t)));
        let key = self
            .server_key
            .is_some_and(|k| same(&offered_digest, &digest(k)));
        if !(token | key) {
            return Err(ApiError::new(
                Kind::BadToken,
                "Invalid OAuth access token: it is neither this pixel's access token nor its server key",
            ));
        }
        if let (Some(secret), Some(proof)) = (self.app_secret, self.appsecret_proof) {
            let expected = appsecret_proof(secret, offered);
            if !same(&digest(&proof.to_ascii_lowercase()), &digest(&expected)) {
                return Err(ApiError::new(
                    Kind::BadProof,
                    "Invalid appsecret_proof provided in the API argument",
                ));
            }
        }
        Ok(())
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equality of two digests in constant time.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "capi-token-of-the-pixel";
    const KEY: &str = "server-key-of-the-store";

    fn check<'a>(
        pixel: &'a PixelConfig,
        key: Option<&'a str>,
        offered: Option<&'a str>,
    ) -> Result<(), Kind> {
        Check {
            pixel,
            server_key: key,
            app_secret: None,
            offered,
            appsecret_proof: None,
        }
        .verify()
        .map_err(|e| e.kind)
    }

    #[test]
    fn the_token_or_the_server_key_and_nothing_else() {
        let with_token = PixelConfig {
            id: "1".into(),
            token: Some(TOKEN.into()),
        };
        let bare = PixelConfig {
            id: "2".into(),
            token: None,
        };
        assert_eq!(check(&with_token, None, Some(TOKEN)), Ok(()));
        assert_eq!(check(&with_token, Some(KEY), Some(KEY)), Ok(()));
        assert_eq!(check(&with_token, Some(KEY), Some(TOKEN)), Ok(()));
        assert_eq!(check(&bare, Some(KEY), Some(KEY)), Ok(()));
        assert_eq!(check(&bare, Some(KEY), Some(TOKEN)), Err(Kind::BadToken));
        assert_eq!(
            check(&with_token, None, Some("capi-token")),
            Err(Kind::BadToken)
        );
        assert_eq!(check(&with_token, None, None), Err(Kind::MissingToken));
        assert_eq!(check(&bare, None, Some(TOKEN)), Err(Kind::NoCredentials));
        assert_eq!(check(&bare, None, None), Err(Kind::NoCredentials));
    }

    #[test]
    fn the_bearer_header_comes_before_the_body_and_the_query() {
        let params = Params {
            access_token: Some("from-body-or-query".into()),
            ..Params::default()
        };
        assert_eq!(offered(Some("bearer"), &params), Some("bearer"));
        assert_eq!(offered(None, &params), Some("from-body-or-query"));
        assert_eq!(offered(None, &Params::default()), None);
    }

    #[test]
    fn appsecret_proof_is_checked_when_the_app_secret_is_known() {
        let pixel = PixelConfig {
            id: "1".into(),
            token: Some(TOKEN.into()),
        };
        let proof = appsecret_proof("app-secret", TOKEN);
        let verify = |secret: Option<&str>, proof: Option<&str>| {
            Check {
                pixel: &pixel,
                server_key: None,
                app_secret: secret,
                offered: Some(TOKEN),
                appsecret_proof: proof,
            }
            .verify()
            .map_err(|e| e.kind)
        };
        assert_eq!(verify(Some("app-secret"), Some(&proof)), Ok(()));
        assert_eq!(
            verify(Some("app-secret"), Some(&proof.to_uppercase())),
            Ok(())
        );
        assert_eq!(verify(Some("app-secret"), None), Ok(()));
        assert_eq!(verify(None, Some("anything")), Ok(()));
        assert_eq!(
            verify(Some("app-secret"), Some("00ff")),
            Err(Kind::BadProof)
        );
    }
}
