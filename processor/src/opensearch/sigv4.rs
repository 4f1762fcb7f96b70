//! SigV4 request signing for Amazon OpenSearch Service (service `es`):
//! the headers to add to one request. Used by the processor's OpenSearch
//! client and by xtask's Dashboards client.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::SystemTime;

/// The SigV4 headers (`authorization`, `x-amz-date`, and
/// `x-amz-security-token` / `x-amz-content-sha256` when they apply) for a
/// request with `headers` and `body`, signed now for `region`. The error
/// says what the signer refused.
pub fn sign_es(
    method: &http::Method,
    url: &str,
    headers: &[(&'static str, String)],
    body: &[u8],
    region: &str,
    credentials: &Credentials,
) -> Result<Vec<(&'static str, String)>, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("es")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        method.as_str(),
        url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    // The names are kept `'static` so that callers hold plain header lists.
    instructions
        .headers()
        .map(|(name, value)| {
            let name: &'static str = match name {
                "authorization" => "authorization",
                "x-amz-date" => "x-amz-date",
                "x-amz-security-token" => "x-amz-security-token",
                "x-amz-content-sha256" => "x-amz-content-sha256",
                other => return Err(format!("unexpected signed header {other}")),
            };
            Ok((name, value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_get_an_es_authorization_and_the_session_token() {
        let credentials = Credentials::new("AKID", "SECRET", Some("TOKEN".into()), None, "t");
        let headers = sign_es(
            &http::Method::POST,
            "https://search-x.eu-west-1.es.amazonaws.com/_bulk",
            &[("content-type", "application/x-ndjson".into())],
            b"{}\n",
            "eu-west-1",
            &credentials,
        )
        .unwrap();
        let auth = headers.iter().find(|(k, _)| *k == "authorization").unwrap();
        assert!(
            auth.1.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"),
            "{}",
            auth.1
        );
        assert!(auth.1.contains("/eu-west-1/es/aws4_request"), "{}", auth.1);
        assert!(auth.1.contains("SignedHeaders=content-type;"), "{}", auth.1);
        assert!(
            headers
                .iter()
                .any(|(k, v)| *k == "x-amz-security-token" && v == "TOKEN")
        );
    }
}
