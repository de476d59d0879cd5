//! The demo's consumer: requests with numeric ids, every frame printed as it arrives, waits
//! for responses and notifications, the pause between steps.

use std::time::Duration;

use anyhow::{bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use wiretape_mock_server::client::ConsumerSocket;

use super::STEP_TIMEOUT;

/// The demo's consumer socket and its pace.
pub(super) struct Consumer {
    pub(super) ws: ConsumerSocket,
    pub(super) next_id: u64,
    /// Before each step (`--step-delay-ms`), so a person can follow.
    pub(super) pause: Duration,
}

impl Consumer {
    /// Prints the next step's title, after the pause.
    pub(super) async fn step(&self, title: &str) {
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        println!("\n{title}");
    }

    /// Sends a request with the next id (a number, as in the tutorial) and returns the id.
    pub(super) async fn request(&mut self, mut frame: Value) -> anyhow::Result<String> {
        let id = self.next_id;
        self.next_id += 1;
        frame["id"] = json!(id);
        let text = frame.to_string();
        println!("  > {text}");
        self.ws.send(Message::text(text)).await?;
        Ok(id.to_string())
    }

    /// Prints every frame until one satisfies `want`, which is returned.
    pub(super) async fn until(
        &mut self,
        what: &str,
        want: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let wait = async {
            while let Some(msg) = self.ws.next().await {
                let msg = msg?;
                let Ok(text) = msg.to_text() else { continue };
                if text.is_empty() {
                    continue;
                }
                println!("  < {text}");
                let frame: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if want(&frame) {
                    return Ok(frame);
                }
            }
            bail!("the connection closed while waiting for {what}")
        };
        tokio::time::timeout(STEP_TIMEOUT, wait)
            .await
            .with_context(|| format!("no {what} within {STEP_TIMEOUT:?}"))?
    }

    /// The response to request `id`.
    pub(super) async fn response(&mut self, id: &str) -> anyhow::Result<Value> {
        self.until(&format!("the response to request {id}"), |f| {
            f["kind"] == "resp" && f["reqId"] == id
        })
        .await
    }

    /// The response to receipt request `id`, and the notification of the receipt it stored
    /// (which may come before or after the response), so the step's transcript is whole
    /// before the next step starts.
    pub(super) async fn receipt_stored(
        &mut self,
        id: &str,
        status: &str,
        sequence: u64,
    ) -> anyhow::Result<Value> {
        let is_response = |f: &Value| f["kind"] == "resp" && f["reqId"] == id;
        let is_notice = |f: &Value| {
            change(f, |ch| {
                ch["event"]["type"] == "AcceptStatusEvent"
                    && ch["event"]["status"] == status
                    && !is_agent(ch)
                    && ch["event"]["sequenceList"]
                        .as_array()
                        .is_some_and(|l| l.contains(&json!(sequence)))
            })
            .is_some()
        };
        let (mut response, mut noticed) = (None, false);
        while response.is_none() || !noticed {
            let (want_response, want_notice) = (response.is_none(), !noticed);
            let what = format!("the response to request {id} and the {status} notification");
            let frame = self
                .until(&what, |f| {
                    (want_response && is_response(f)) || (want_notice && is_notice(f))
                })
                .await?;
            if want_response && is_response(&frame) {
                expect_code(&frame, 200)?;
                response = Some(frame);
            } else {
                noticed = true;
            }
        }
        response.context("no response")
    }
}

/// The first change of a messaging notification that matches `want`.
pub(super) fn change(frame: &Value, want: impl Fn(&Value) -> bool) -> Option<Value> {
    if frame["type"] != "ms.MessagingEventNotification" {
        return None;
    }
    frame["body"]["changes"]
        .as_array()?
        .iter()
        .find(|c| want(c))
        .cloned()
}

pub(super) fn is_agent(change: &Value) -> bool {
    change["originatorMetadata"]["role"]
        .as_str()
        .is_some_and(|role| role != "CONSUMER")
}

pub(super) fn receipt(dialog: &str, status: &str, sequence: u64) -> Value {
    json!({"kind": "req", "id": 0, "type": "ms.PublishEvent", "body": {
        "dialogId": dialog,
        "event": {"type": "AcceptStatusEvent", "status": status, "sequenceList": [sequence]}
    }})
}

pub(super) fn expect_code(resp: &Value, code: u64) -> anyhow::Result<()> {
    if resp["code"].as_u64() == Some(code) {
        Ok(())
    } else {
        bail!("expected code {code}, got {resp}")
    }
}
