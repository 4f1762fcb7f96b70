use super::*;

const FALLBACK: i64 = 1_793_628_000_000;

fn parse(line: &str) -> Result<RequestEvent<'_>, Reason> {
    parse_record(line, FALLBACK, &Rules::builtin())
}

fn ok(line: &str) -> RequestEvent<'_> {
    parse(line).unwrap_or_else(|r| panic!("{line} was skipped as {}", r.name()))
}

const BASE: &str = r#""type":"request","sessionId":"s1","user":"alice@x.com","url":"/api/assets""#;

#[test]
fn every_prefix_style() {
    let body = format!("{{{BASE}}}");
    for line in [
        format!("2026-11-02T14:03:11.482Z\tINFO\t{body}"),
        format!("[2026-11-02 14:03:11,482] INFO {body}"),
        format!("INFO {body}"),
        body.clone(),
        format!("{body}  \t"),
    ] {
        assert_eq!(ok(&line).path, "/api/assets", "{line}");
    }
}

#[test]
fn unparsed_lines() {
    for line in [
        "",
        "Started IronMan in 3.2 seconds",
        "java.lang.NullPointerException: at com.x.Y(Y.java:3)",
        "INFO {not json}",
        "INFO {\"type\":\"request\"",
        "INFO [1,2,3]",
        "INFO \"a string\"",
        "INFO [{\"type\":\"request\"}]",
        "INFO {\"type\":\"request\"} trailing",
        "INFO {\"a\":1}{\"b\":2}",
    ] {
        assert_eq!(parse(line).unwrap_err(), Reason::Unparsed, "{line:?}");
    }
}

#[test]
fn type_rules() {
    assert_eq!(
        parse(r#"{"sessionId":"s","user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NotRequest
    );
    assert_eq!(
        parse(r#"{"type":"metric","sessionId":"s","user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NotRequest
    );
    assert_eq!(
        parse(r#"{"type":7,"sessionId":"s","user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NotRequest
    );
    assert!(parse(r#"{"type":" Request ","sessionId":"s","user":"u","url":"/a"}"#).is_ok());
    assert!(parse(r#"{"type":"PAGE-BEACON","sessionId":"s","user":"u","url":"/a"}"#).is_ok());
}

#[test]
fn required_fields_in_order() {
    assert_eq!(
        parse(r#"{"type":"request","user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NoSession
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"  ","user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NoSession
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":null,"user":"u","url":"/a"}"#).unwrap_err(),
        Reason::NoSession
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","url":"/a"}"#).unwrap_err(),
        Reason::NoUser
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":" ","url":"/a"}"#).unwrap_err(),
        Reason::NoUser
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":"u"}"#).unwrap_err(),
        Reason::NoUrl
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":"u","url":""}"#).unwrap_err(),
        Reason::NoUrl
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":"u","url":"?x=1"}"#).unwrap_err(),
        Reason::NoUrl
    );
    assert_eq!(
        parse(r#"{"type":"request","user":"","url":""}"#).unwrap_err(),
        Reason::NoSession
    );
}

#[test]
fn normalisation_of_identity_fields() {
    let e = ok(
        r#"{"type":"request","sessionId":"  s-1 ","user":"  Alice@X.COM ","url":" /a ","method":" get "}"#,
    );
    assert_eq!(e.session_id, "s-1");
    assert_eq!(e.user, "alice@x.com");
    assert_eq!(e.path, "/a");
    assert_eq!(e.method.as_deref(), Some("GET"));
    let e = ok(r#"{"type":"request","sessionId":"s","user":"ÉLODIE@Exemple.fr","url":"/a"}"#);
    assert_eq!(e.user, "élodie@exemple.fr");
    let e = ok(r#"{"type":"request","sessionId":"s","user":"u","url":"/a"}"#);
    assert_eq!(e.method, None);
}

#[test]
fn timestamps() {
    let at = |ts: &str| {
        let line = format!(r#"{{{BASE},"timestamp":{ts}}}"#);
        ok(&line).timestamp_ms
    };
    assert_eq!(at(r#""2026-11-02T14:03:11.482Z""#), 1_793_628_191_482);
    assert_eq!(at(r#""2026-11-02T15:03:11.482+01:00""#), 1_793_628_191_482);
    assert_eq!(
        at(r#""2026-11-02T09:03:11.482123-05:00""#),
        1_793_628_191_482
    );
    assert_eq!(at("1793628191482"), 1_793_628_191_482);
    assert_eq!(at("1793628191482.0"), FALLBACK);
    assert_eq!(at(r#""yesterday""#), FALLBACK);
    assert_eq!(at(r#""1793628191482""#), FALLBACK);
    assert_eq!(at("null"), FALLBACK);
    assert_eq!(at("999999999999999999"), FALLBACK);
    let line = format!("{{{BASE}}}");
    assert_eq!(ok(&line).timestamp_ms, FALLBACK);
}

#[test]
fn status_and_response_time() {
    let check = |extra: &str, expected: (Option<i64>, Option<i64>)| {
        let line = format!("{{{BASE},{extra}}}");
        let e = ok(&line);
        assert_eq!((e.status_code, e.response_time), expected, "{extra}");
    };
    check(
        r#""status":"404","responseTimeMs":12.6"#,
        (Some(404), Some(13)),
    );
    check(r#""status":500,"responseTimeMs":7"#, (Some(500), Some(7)));
    check(r#""status":"OK","responseTimeMs":"fast""#, (None, None));
    check(
        r#""status":" 200 ","responseTimeMs":0.4"#,
        (Some(200), Some(0)),
    );
    check(r#""status":200.0,"responseTimeMs":"12""#, (None, None));
    check(r#""status":"-1","responseTimeMs":-2.5"#, (None, Some(-3)));
}

#[test]
fn module_only_on_page_beacons() {
    let e = ok(
        r#"{"type":"page-beacon","sessionId":"s","user":"u","url":"/wo","module":" Work Orders "}"#,
    );
    assert_eq!(e.module.as_deref(), Some("Work Orders"));
    let e =
        ok(r#"{"type":"request","sessionId":"s","user":"u","url":"/wo","module":"Work Orders"}"#);
    assert_eq!(e.module, None);
    let e = ok(r#"{"type":"page-beacon","sessionId":"s","user":"u","url":"/wo","module":"  "}"#);
    assert_eq!(e.module, None);
}

#[test]
fn site_token_precedence() {
    let e = ok(
        r#"{"type":"request","sessionId":"s","user":"u","url":"/api/sites/ST-2/x?siteToken=ST-3","siteToken":" ST-1 "}"#,
    );
    assert_eq!(e.site_token.as_deref(), Some("ST-1"));
    let e = ok(
        r#"{"type":"request","sessionId":"s","user":"u","url":"/api/v2/sites/ST-0042/assets?siteToken=ST-3","siteToken":""}"#,
    );
    assert_eq!(e.site_token.as_deref(), Some("ST-0042"));
    let e = ok(
        r#"{"type":"request","sessionId":"s","user":"u","url":"/api/assets?siteToken=%20st-9%20"}"#,
    );
    assert_eq!(e.site_token.as_deref(), Some("st-9"));
    let e = ok(r#"{"type":"request","sessionId":"s","user":"u","url":"/api/assets#siteToken=x"}"#);
    assert_eq!(e.site_token, None);
}

#[test]
fn asset_types_from_query_and_record() {
    let e = ok(
        r#"{"type":"request","sessionId":"s","user":"u","url":"/a?assetType=Pump&assetType=valve%2C%20Tank&assetType=Heat+Exchanger,&x=1#assetType=no","assetTypes":[" PUMP","Meter",3,""]}"#,
    );
    assert_eq!(
        e.asset_types,
        vec!["pump", "valve", "tank", "heat exchanger", "meter"]
    );
    let e = ok(r#"{"type":"request","sessionId":"s","user":"u","url":"/a"}"#);
    assert!(e.asset_types.is_empty());
}

#[test]
fn noise_reasons() {
    assert_eq!(
        parse(
            r#"{"type":"request","sessionId":"s","user":"u","url":"/health","method":"options"}"#
        )
        .unwrap_err(),
        Reason::NoiseMethod
    );
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":"u","url":"/static/app.js?v=3"}"#)
            .unwrap_err(),
        Reason::NoisePath
    );
    assert_eq!(parse(r#"{"type":"request","sessionId":"s","user":"u","url":"/a","userAgent":"kube-probe/1.29"}"#).unwrap_err(), Reason::NoiseUserAgent);
    assert_eq!(
        parse(r#"{"type":"request","sessionId":"s","user":" ETL@IronMan.Internal ","url":"/a"}"#)
            .unwrap_err(),
        Reason::NoiseUser
    );
    assert!(
        parse(r#"{"type":"request","sessionId":"s","user":"u","url":"/a","status":500}"#).is_ok()
    );
}

#[test]
fn unknown_and_duplicate_keys() {
    let e = ok(
        r#"{"type":"request","extra":{"nested":[1,{"a":2}]},"sessionId":"s","user":"a","user":"b","url":"/a"}"#,
    );
    assert_eq!(e.user, "b");
}

#[test]
fn escapes_unicode_and_long_lines() {
    let e = ok(r#"{"type":"request","sessionId":"s\u00e9","user":"u","url":"/caf\u00e9/\"q\""}"#);
    assert_eq!(e.session_id, "sé");
    assert_eq!(e.path, "/café/\"q\"");
    let long_ua = "x".repeat(200_000);
    let long_query = "a".repeat(100_000);
    let line = format!(
        r#"{{"type":"request","sessionId":"s","user":"u","url":"/a?q={long_query}&assetType=Pump","userAgent":"{long_ua}"}}"#
    );
    let e = ok(&line);
    assert_eq!(e.asset_types, vec!["pump"]);
}

#[test]
fn numbers_as_identifiers() {
    let e = ok(r#"{"type":"request","sessionId":12345,"user":"u","url":"/a"}"#);
    assert_eq!(e.session_id, "12345");
}

#[test]
fn borrowed_when_nothing_changes() {
    let e = ok(
        r#"{"type":"request","sessionId":"s1","user":"alice","url":"/api/sites/ST-1/x?assetType=pump"}"#,
    );
    assert!(matches!(e.session_id, Cow::Borrowed(_)));
    assert!(matches!(e.user, Cow::Borrowed(_)));
    assert!(matches!(e.path, Cow::Borrowed(_)));
    assert!(matches!(e.asset_types[0], Cow::Borrowed(_)));
}
