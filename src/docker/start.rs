//! `POST /containers/{id}/start?checkpoint=NAME`, which bollard does not
//! offer, sent as one HTTP/1.1 request over the engine's unix socket.
//!
//! The engine returns 204 when the container runs, or an error status with
//! a JSON body `{"message": "..."}` that carries runc's and CRIU's complaint.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::DockerError;

pub(super) async fn start_from_checkpoint(
    socket: &str,
    api_version: &str,
    container_id: &str,
    checkpoint: &str,
) -> Result<(), DockerError> {
    let action = format!("starting container {container_id} from checkpoint {checkpoint}");
    let socket_error = |source: std::io::Error| DockerError::Socket {
        socket: socket.to_string(),
        action: action.clone(),
        source,
    };

    let mut stream = UnixStream::connect(socket).await.map_err(socket_error)?;
    let request = format!(
        "POST /v{api_version}/containers/{container_id}/start?checkpoint={checkpoint} HTTP/1.1\r\n\
         Host: docker\r\n\
         Content-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(socket_error)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(socket_error)?;

    let (status, body) = parse_response(&response).ok_or_else(|| DockerError::Api {
        action: action.clone(),
        status: 0,
        message: "the engine's response is not valid HTTP".to_string(),
    })?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(DockerError::Api { action, status, message: error_message(&body) })
}

/// Splits an HTTP/1.1 response into its status code and body, undoing
/// chunked transfer encoding, which the engine uses for error bodies.
fn parse_response(response: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|line| line.to_ascii_lowercase().starts_with("transfer-encoding:") && line.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Extracts the engine's `message` field, or the raw body when it is not JSON.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_content_response_parses() {
        let (status, body) = parse_response(b"HTTP/1.1 204 No Content\r\nApi-Version: 1.41\r\n\r\n").unwrap();
        assert_eq!(status, 204);
        assert_eq!(body, "");
    }

    #[test]
    fn chunked_error_body_is_joined() {
        let response = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\nf\r\n{\"message\":\"cri\r\n8\r\nu failed\r\n2\r\n\"}\r\n0\r\n\r\n";
        let (status, body) = parse_response(response).unwrap();
        assert_eq!(status, 500);
        assert_eq!(error_message(&body), "criu failed");
    }

    #[test]
    fn non_json_body_is_kept() {
        assert_eq!(error_message("page not found\n"), "page not found");
    }
}
