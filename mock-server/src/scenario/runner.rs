//! Runs a [`Scenario`]: receives consumer events from the handlers and plays the steps of the
//! first matching rule through an [`Agent`] handle.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Action, Scenario, Step, Trigger};
use crate::model::ReceiptStatus;
use crate::Agent;

/// A consumer event the agent may react to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConsumerEvent {
    pub trigger: Trigger,
    pub conversation_id: String,
    /// The text of a consumer message (`ContentEvent` with a string message).
    pub message: Option<String>,
    /// The status of a consumer receipt.
    pub status: Option<ReceiptStatus>,
}

/// Receives events until `cancel` fires; each matching rule is played in its own task.
pub(crate) async fn run(
    scenario: Scenario,
    agent: Agent,
    mut events: mpsc::Receiver<ConsumerEvent>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            // The server is shutting down: stop reacting.
            () = cancel.cancelled() => return,
            // A consumer did something; `None` means the server state is gone.
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let Some(rule) = scenario.rules.iter().find(|r| matches(r, &event)) else {
            continue;
        };
        let steps = rule.steps.clone();
        let (agent, cancel) = (agent.clone(), cancel.clone());
        tracker.spawn(async move { play(steps, event, agent, cancel).await });
    }
}

fn matches(rule: &super::ScenarioRule, event: &ConsumerEvent) -> bool {
    if rule.on != event.trigger {
        return false;
    }
    if let Some(needle) = &rule.contains {
        let text = event.message.as_deref().unwrap_or("").to_lowercase();
        if !text.contains(&needle.to_lowercase()) {
            return false;
        }
    }
    if let Some(status) = rule.status {
        if event.status != Some(status) {
            return false;
        }
    }
    true
}

async fn play(steps: Vec<Step>, event: ConsumerEvent, agent: Agent, cancel: CancellationToken) {
    for step in steps {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(step.after_ms)) => {}
        }
        let conv = event.conversation_id.as_str();
        let result = match &step.action {
            Action::Join => agent.join(conv),
            Action::Say { text } => {
                let text = text.replace("{message}", event.message.as_deref().unwrap_or(""));
                agent.say(conv, &text).map(drop)
            }
            Action::Rich { content } => agent
                .publish(
                    conv,
                    serde_json::json!({"type": "RichContentEvent", "content": content}),
                )
                .map(drop),
            Action::Receipt { status } => agent.acknowledge_all(conv, *status).map(drop),
            Action::ChatState { state } => agent.chat_state(conv, state),
            Action::Close => agent.close(conv),
        };
        if let Err(err) = result {
            tracing::debug!(conversation = conv, cause = %err, "scenario step skipped");
            if matches!(
                err,
                crate::AgentError::ConversationClosed(_)
                    | crate::AgentError::UnknownConversation(_)
            ) {
                return;
            }
        }
    }
}
