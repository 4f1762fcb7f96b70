//! One small HTTP/1.1 server for the tests' stand-ins: the fault proxy in
//! front of OpenSearch (`pipeline/retries.rs`), the saved-objects double
//! (`dashboards.rs`) and the ISM double (`deploy/ism_double.rs`).
//!
//! [`Server::start`] listens on 127.0.0.1:0 and hands every request (body
//! de-chunked) to a [`Handler`], which answers it or closes the connection
//! unanswered. Connections are kept alive unless the client asks otherwise
//! (`Connection: close`, or HTTP/1.0); answers go out with a
//! `Content-Length`. A handler keeps state of its own per connection (the
//! proxy: its upstream connection). Whatever goes wrong on a connection (a
//! bad request, which is answered 400, an I/O error, a handler's error or
//! panic) is recorded for [`Server::assert_healthy`].
//!
//! The readers are public for a client side too: the proxy reads
//! OpenSearch's answers with [`read_head`] and [`read_body`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Header lines in the order they came, names as sent; looked up without
/// regard to case, the last one winning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// `token` is in the comma-separated values of `name`
    /// (`Connection: close`, `Transfer-Encoding: gzip, chunked`).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn iter(&self) -> std::slice::Iter<'_, (String, String)> {
        self.0.iter()
    }
}

impl<'h> IntoIterator for &'h Headers {
    type Item = &'h (String, String);
    type IntoIter = std::slice::Iter<'h, (String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        Headers(
            pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

impl std::ops::Index<&str> for Headers {
    type Output = String;
    fn index(&self, name: &str) -> &String {
        self.get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }
}

/// A request as the server received it (body de-chunked).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub version: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    /// The client closes the connection after this request.
    pub fn closes(&self) -> bool {
        self.version != "HTTP/1.1" || self.headers.has_token("connection", "close")
    }
}

/// An answer; `content-length` (and `connection`) are the server's to
/// write, except that the answer to a `HEAD` keeps the handler's
/// `content-length`, there being no body to count.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `None`: the status's canonical reason phrase.
    pub reason: Option<String>,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Response {
    /// `content-type: application/json` and `body` serialised.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            reason: None,
            headers: [("content-type", "application/json")].into_iter().collect(),
            body: serde_json::to_vec(body).expect("JSON"),
        }
    }
}

/// What a handler does with a request.
pub enum Reply {
    Respond(Response),
    /// Close the connection without answering.
    Close,
}

/// Answers the requests of one server.
pub trait Handler: Send + Sync + 'static {
    /// Kept for one client connection, from its first request to its end.
    type Connection: Default + Send;

    /// An error closes the connection unanswered and is recorded as a
    /// problem of the server's.
    fn handle(
        &self,
        connection: &mut Self::Connection,
        request: Request,
    ) -> impl Future<Output = io::Result<Reply>> + Send;
}

/// A handler of a closure that always answers.
struct Answer<F>(F);

impl<F: Fn(Request) -> Response + Send + Sync + 'static> Handler for Answer<F> {
    type Connection = ();

    async fn handle(&self, _: &mut (), request: Request) -> io::Result<Reply> {
        Ok(Reply::Respond((self.0)(request)))
    }
}

/// A server on a loopback port; it stops accepting when dropped.
pub struct Server {
    /// `http://127.0.0.1:port`
    pub url: String,
    pub address: SocketAddr,
    problems: Arc<Mutex<Vec<String>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Connection tasks end with their client or with the test's runtime.
        self.accept.abort();
    }
}

impl Server {
    /// Listens on 127.0.0.1:0 and serves each connection on a task of its
    /// own.
    pub async fn start(handler: impl Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a test server on loopback");
        let address = listener.local_addr().expect("local address");
        let handler = Arc::new(handler);
        let problems = Arc::new(Mutex::new(Vec::new()));
        let recorded = problems.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = handler.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    // A task of its own, so that a panicking handler is a
                    // problem recorded, not a connection silently gone.
                    let problem = match tokio::spawn(serve(stream, handler)).await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => format!("test server {address}: {e}"),
                        Err(e) => format!("test server {address}: {e}"),
                    };
                    recorded.lock().unwrap().push(problem);
                });
            }
        });
        Server {
            url: format!("http://{address}"),
            address,
            problems,
            accept,
        }
    }

    /// A server whose every request is answered by `answer`.
    pub async fn start_fn(answer: impl Fn(Request) -> Response + Send + Sync + 'static) -> Server {
        Server::start(Answer(answer)).await
    }

    /// What went wrong on the connections so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// The server itself worked (a failing stand-in would make any
    /// assertion about its client meaningless).
    pub fn assert_healthy(&self) {
        let problems = self.problems();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

async fn serve<H: Handler>(stream: TcpStream, handler: Arc<H>) -> io::Result<()> {
    let mut client = BufReader::new(stream);
    let mut connection = H::Connection::default();
    loop {
        let request = match read_request(&mut client).await {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let answer = Response {
                    status: 400,
                    reason: None,
                    headers: Headers::default(),
                    body: format!("{e}\n").into_bytes(),
                };
                let _ = write_response(client.get_mut(), &answer, false, true).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let close = request.closes();
        let head = request.method == "HEAD";
        match handler.handle(&mut connection, request).await? {
            // Dropping `client` closes the connection unanswered.
            Reply::Close => return Ok(()),
            Reply::Respond(answer) => {
                write_response(client.get_mut(), &answer, head, close).await?;
                if close {
                    return Ok(());
                }
            }
        }
    }
}

/// Writes `answer` with a `content-length` of its body (for a `HEAD`,
/// the handler's, and no body) and `connection: close` if `close`.
pub async fn write_response<W: AsyncWrite + Unpin>(
    w: &mut W,
    answer: &Response,
    head: bool,
    close: bool,
) -> io::Result<()> {
    let reason = match &answer.reason {
        Some(reason) => reason.as_str(),
        None => ::http::StatusCode::from_u16(answer.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown"),
    };
    let mut text = format!("HTTP/1.1 {} {reason}\r\n", answer.status);
    for (name, value) in &answer.headers {
        if !["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    if head {
        if let Some(length) = answer.headers.get("content-length") {
            text.push_str(&format!("content-length: {length}\r\n"));
        }
    } else {
        text.push_str(&format!("content-length: {}\r\n", answer.body.len()));
    }
    if close {
        text.push_str("connection: close\r\n");
    }
    text.push_str("\r\n");
    w.write_all(text.as_bytes()).await?;
    if !head {
        w.write_all(&answer.body).await?;
    }
    w.flush().await
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The next request on a connection; `None` on a clean end before any
/// byte of it. A malformed request is an `InvalidData` error.
pub async fn read_request<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> io::Result<Option<Request>> {
    let Some((start, headers)) = read_head(r).await? else {
        return Ok(None);
    };
    let mut parts = start.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("a bad request line: {start:?}")));
    };
    if method.is_empty() || !path.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(bad(format!("a bad request line: {start:?}")));
    }
    // A request without a length has no body.
    let body = read_body(r, &headers).await?.unwrap_or_default();
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        version: version.to_string(),
        headers,
        body,
    }))
}

/// The start line and headers; `None` on a clean end before any byte.
pub async fn read_head<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> io::Result<Option<(String, Headers)>> {
    let mut start = String::new();
    if r.read_line(&mut start).await? == 0 {
        return Ok(None);
    }
    let mut headers = Headers::default();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("a header line without a colon: {line:?}")))?;
        headers.push(name.trim(), value.trim());
    }
    Ok(Some((start.trim_end().to_string(), headers)))
}

/// The body `headers` announce: chunked (extensions and trailers read and
/// dropped) or of a `Content-Length`; `None` when they announce neither.
pub async fn read_body<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    headers: &Headers,
) -> io::Result<Option<Vec<u8>>> {
    if headers.has_token("transfer-encoding", "chunked") {
        return read_chunked(r).await.map(Some);
    }
    match headers.get("content-length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .map_err(|_| bad(format!("content-length {length:?}")))?;
            let mut body = vec![0; length];
            r.read_exact(&mut body).await?;
            Ok(Some(body))
        }
        None => Ok(None),
    }
}

async fn read_chunked<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| bad(format!("a bad chunk size line: {line:?}")))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut trailer = String::new();
                if r.read_line(&mut trailer).await? == 0 || trailer.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).await?;
        if &crlf != b"\r\n" {
            return Err(bad("a chunk not followed by CRLF".into()));
        }
    }
}

mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::ReadBuf;

    /// Gives its bytes one piece per read, as a socket may.
    struct Pieces(VecDeque<Vec<u8>>);

    impl Pieces {
        fn bytewise(wire: &[u8]) -> BufReader<Pieces> {
            BufReader::new(Pieces(wire.iter().map(|b| vec![*b]).collect()))
        }
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    const CHUNKED: &[u8] = b"POST /_bulk?refresh=false HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nWiki\r\n6;ext=1;name=\"v\"\r\npedia \r\nD\r\nin\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n";

    async fn read_all(r: &mut BufReader<impl AsyncRead + Unpin>) -> Vec<Request> {
        let mut requests = Vec::new();
        while let Some(request) = read_request(r).await.expect("well-formed requests") {
            requests.push(request);
        }
        requests
    }

    #[tokio::test]
    async fn a_body_of_a_content_length_and_the_next_request_after_it() {
        let wire = b"PUT /a/b?c=1&d HTTP/1.1\r\nContent-Type: application/json\r\ncontent-length: 7\r\nX-Twice: 1\r\nx-twice:  2 \r\n\r\n{\"a\":1}GET / HTTP/1.0\r\n\r\n";
        let requests = read_all(&mut BufReader::new(&wire[..])).await;
        assert_eq!(requests.len(), 2, "{requests:#?}");
        let put = &requests[0];
        assert_eq!(
            (put.method.as_str(), put.path.as_str()),
            ("PUT", "/a/b?c=1&d")
        );
        assert_eq!(put.body, b"{\"a\":1}");
        assert_eq!(put.headers["content-type"], "application/json");
        assert_eq!(put.headers.get("X-TWICE").map(String::as_str), Some("2"));
        assert!(!put.closes());
        let get = &requests[1];
        assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", "/"));
        assert!(get.body.is_empty(), "no length: no body");
        assert!(get.closes(), "HTTP/1.0");
    }

    #[tokio::test]
    async fn a_chunked_body_with_extensions_and_trailers() {
        let mut wire = CHUNKED.to_vec();
        wire.extend_from_slice(b"DELETE /x HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
        let requests = read_all(&mut BufReader::new(&wire[..])).await;
        assert_eq!(requests.len(), 2, "stops after the trailers: {requests:#?}");
        assert_eq!(requests[0].body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(requests[0].headers.get("trailer"), None, "trailers dropped");
        assert!(requests[1].closes());
    }

    #[tokio::test]
    async fn a_request_split_across_reads_anywhere() {
        let mut wire = CHUNKED.to_vec();
        wire.extend_from_slice(b"POST /s HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        let requests = read_all(&mut Pieces::bytewise(&wire)).await;
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(requests[1].body, b"hello");
        // In two pieces, cut at every byte.
        for cut in 1..wire.len() {
            let pieces = VecDeque::from([wire[..cut].to_vec(), wire[cut..].to_vec()]);
            let again = read_all(&mut BufReader::new(Pieces(pieces))).await;
            assert_eq!(
                again.iter().map(|r| &r.body).collect::<Vec<_>>(),
                requests.iter().map(|r| &r.body).collect::<Vec<_>>(),
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn the_body_readers_for_answers() {
        let te: Headers = [("Transfer-Encoding", "chunked")].into_iter().collect();
        let wire: &[u8] =
            b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nD\r\nin\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let mut reader = BufReader::new(wire);
        let body = read_body(&mut reader, &te).await.unwrap();
        assert_eq!(body.as_deref(), Some(&b"Wikipedia in\r\n\r\nchunks."[..]));
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "NEXT", "stops after the trailers");

        let cl: Headers = [("Content-Length", "3")].into_iter().collect();
        let mut reader = BufReader::new(&b"abcdef"[..]);
        let body = read_body(&mut reader, &cl).await.unwrap();
        assert_eq!(body.as_deref(), Some(&b"abc"[..]));
        let body = read_body(&mut reader, &Headers::default()).await.unwrap();
        assert_eq!(body, None, "no length: delimited by the connection");
    }

    #[tokio::test]
    async fn bad_requests_are_errors() {
        for wire in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET example.com HTTP/1.1\r\n\r\n",
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        ] {
            let e = read_request(&mut BufReader::new(wire))
                .await
                .expect_err(&String::from_utf8_lossy(wire));
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        }
        for cut in [
            &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        ] {
            let e = read_request(&mut BufReader::new(cut)).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        }
        let nothing = read_request(&mut BufReader::new(&b""[..])).await.unwrap();
        assert!(nothing.is_none(), "a clean end");
    }

    /// Echoes the method and body; `/close` closes the connection
    /// unanswered, `/fail` fails.
    struct Echo;

    impl Handler for Echo {
        type Connection = u32;

        async fn handle(&self, seen: &mut u32, request: Request) -> io::Result<Reply> {
            *seen += 1;
            match request.path.as_str() {
                "/close" => Ok(Reply::Close),
                "/fail" => Err(io::Error::other("asked to fail")),
                _ => {
                    let mut body = format!("{} #{seen} ", request.method).into_bytes();
                    body.extend_from_slice(&request.body);
                    let mut headers = Headers::default();
                    headers.push("X-Echo", "1");
                    headers.push("Content-Length", "999");
                    Ok(Reply::Respond(Response {
                        status: 201,
                        reason: None,
                        headers,
                        body,
                    }))
                }
            }
        }
    }

    async fn exchange(server: &Server, wire: &[u8]) -> String {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream.write_all(wire).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_string(&mut answer),
        )
        .await
        .expect("the server closes the connection")
        .unwrap();
        answer
    }

    #[tokio::test]
    async fn the_server_keeps_connections_alive_and_closes_them_when_asked() {
        let server = Server::start(Echo).await;
        // Three requests on one connection, the last one closing it.
        let mut wire = CHUNKED.to_vec();
        wire.extend_from_slice(b"HEAD /h HTTP/1.1\r\n\r\nPUT /p HTTP/1.1\r\ncontent-length: 2\r\nConnection: close\r\n\r\nokGET /never HTTP/1.1\r\n\r\n");
        let answer = exchange(&server, &wire).await;
        assert_eq!(
            answer,
            "HTTP/1.1 201 Created\r\nX-Echo: 1\r\ncontent-length: 31\r\n\r\nPOST #1 Wikipedia in\r\n\r\nchunks.\
             HTTP/1.1 201 Created\r\nX-Echo: 1\r\ncontent-length: 999\r\n\r\n\
             HTTP/1.1 201 Created\r\nX-Echo: 1\r\ncontent-length: 9\r\nconnection: close\r\n\r\nPUT #3 ok"
        );
        // Closed unanswered, on request.
        let answer = exchange(
            &server,
            b"GET /a HTTP/1.1\r\n\r\nGET /close HTTP/1.1\r\n\r\n",
        )
        .await;
        assert!(answer.ends_with("GET #1 "), "{answer}");
        server.assert_healthy();
    }

    #[tokio::test]
    async fn a_bad_request_is_answered_400_and_a_failing_handler_is_a_problem() {
        let server = Server::start(Echo).await;
        let answer = exchange(&server, b"GET / HTTP/1.1\r\nno colon\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n")
                && answer.contains("connection: close"),
            "{answer}"
        );
        let answer = exchange(&server, b"GET /fail HTTP/1.1\r\n\r\n").await;
        assert_eq!(answer, "", "closed unanswered");
        let problems = server.problems();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(
            problems.iter().any(|p| p.contains("without a colon")),
            "{problems:#?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("asked to fail")),
            "{problems:#?}"
        );
    }

    #[tokio::test]
    async fn a_closure_answers_every_request() {
        let server = Server::start_fn(|request| {
            Response::json(404, &serde_json::json!({"path": request.path}))
        })
        .await;
        let answer = exchange(&server, b"GET /x?y=1 HTTP/1.0\r\n\r\n").await;
        assert_eq!(
            answer,
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 17\r\nconnection: close\r\n\r\n{\"path\":\"/x?y=1\"}"
        );
        server.assert_healthy();
    }
}
