//! Scenarios: what the simulated agent does, when, and in reaction to which consumer events.
//!
//! A scenario is a list of rules. Each rule names a trigger (`on`), optional conditions, and
//! steps run in order, each after a pause. For each consumer event the *first* matching rule
//! runs; the steps of different events run concurrently. `--agent auto` is the built-in
//! [`Scenario::auto`]; `--agent manual` is the empty scenario. The file format (JSON) is
//! documented with an example in `fixtures/scenarios/README.md`:
//!
//! ```json
//! {"description": "greets, then answers refunds specially",
//!  "rules": [
//!   {"on": "conversation_created", "steps": [
//!      {"after_ms": 200, "do": "join"},
//!      {"after_ms": 300, "do": "say", "text": "Hi, how can I help?"}]},
//!   {"on": "consumer_message", "contains": "refund", "steps": [
//!      {"after_ms": 100, "do": "receipt", "status": "ACCEPT"},
//!      {"after_ms": 400, "do": "receipt", "status": "READ"},
//!      {"after_ms": 600, "do": "say", "text": "Refunds take 3 days."}]}]}
//! ```

pub(crate) mod runner;
mod survey;

pub(crate) use survey::text as survey_text;
pub use survey::{Survey, SurveyQuestion};

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::ReceiptStatus;
use crate::Error;

/// A script for the simulated agent, and the post-conversation survey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario is for (free text).
    #[serde(default)]
    pub description: String,
    /// The rules, tried in order; the first that matches an event runs.
    #[serde(default)]
    pub rules: Vec<ScenarioRule>,
    /// The survey a `MULTI_DIALOG` client gets when it closes the MAIN dialog: the default
    /// [`Survey`] when the file does not say, none with `"survey": null`.
    #[serde(default = "Survey::default_some")]
    pub survey: Option<Survey>,
    /// Fault rules (the `--fault` language, one string each), applied from the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<wiretape_fixtures::Fault>,
}

impl Default for Scenario {
    /// No rules (`--agent manual`), the default survey.
    fn default() -> Self {
        Self {
            description: String::new(),
            rules: Vec::new(),
            survey: Survey::default_some(),
            faults: Vec::new(),
        }
    }
}

/// One rule: a trigger, its conditions and the steps it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRule {
    /// The consumer event that triggers the rule.
    pub on: Trigger,
    /// For `consumer_message`: only messages containing this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// For `consumer_receipt`: only receipts with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReceiptStatus>,
    /// What the agent does, in order.
    pub steps: Vec<Step>,
}

/// Consumer events a rule can react to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The consumer created a conversation (`cm.ConsumerRequestConversation`).
    ConversationCreated,
    /// The consumer published a `ContentEvent` or `RichContentEvent`.
    ConsumerMessage,
    /// The consumer published a receipt that was stored.
    ConsumerReceipt,
}

/// One step: a pause, then an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds to wait before the action (after the previous step).
    #[serde(default)]
    pub after_ms: u64,
    /// The action.
    #[serde(flatten)]
    pub action: Action,
}

/// What the agent can do in a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Join the conversation as ASSIGNED_AGENT (no-op when already joined).
    Join,
    /// Send a text message. `{message}` is replaced by the consumer message that triggered
    /// the rule.
    Say {
        /// The text.
        text: String,
    },
    /// Send structured content (`RichContentEvent`).
    Rich {
        /// The `content` object.
        content: Value,
    },
    /// Publish a receipt with this status for every consumer message the agent has not yet
    /// marked with it (nothing when there is none).
    Receipt {
        /// The status.
        status: ReceiptStatus,
    },
    /// Publish a chat state (e.g. `COMPOSING`).
    ChatState {
        /// The chat state.
        state: String,
    },
    /// Close the conversation.
    Close,
}

impl Scenario {
    /// The built-in `--agent auto` behaviour: join then greet each new conversation, and answer
    /// every consumer message with ACCEPT, READ and a reply quoting it, pausing `delay` before
    /// each action.
    pub fn auto(delay: Duration) -> Self {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let step = |action| Step {
            after_ms: ms,
            action,
        };
        Self {
            description: "built-in agent: joins, greets, acknowledges and answers".to_owned(),
            rules: vec![
                ScenarioRule {
                    on: Trigger::ConversationCreated,
                    contains: None,
                    status: None,
                    steps: vec![
                        step(Action::Join),
                        step(Action::Say {
                            text: "Hi, I'm the wiretape agent. How can I help you?".to_owned(),
                        }),
                    ],
                },
                ScenarioRule {
                    on: Trigger::ConsumerMessage,
                    contains: None,
                    status: None,
                    steps: vec![
                        Step {
                            after_ms: 0,
                            action: Action::Join,
                        },
                        step(Action::Receipt {
                            status: ReceiptStatus::Accept,
                        }),
                        step(Action::Receipt {
                            status: ReceiptStatus::Read,
                        }),
                        step(Action::Say {
                            text: "You said: {message}".to_owned(),
                        }),
                    ],
                },
            ],
            survey: Survey::default_some(),
            faults: Vec::new(),
        }
    }

    /// Parses a scenario from JSON text.
    ///
    /// # Errors
    /// [`Error::ScenarioParse`] with the line and column of the problem.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|source| Error::ScenarioParse {
            origin: "<string>".to_owned(),
            source,
        })
    }

    /// Reads a scenario file (JSON).
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ScenarioRead {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::ScenarioParse {
            origin: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("../../../fixtures/scenarios/tutorial.json");
        let scenario = Scenario::from_json(text).unwrap();
        assert!(!scenario.rules.is_empty());
    }

    #[test]
    fn unknown_actions_and_fields_are_errors() {
        let bad = r#"{"rules":[{"on":"conversation_created","steps":[{"do":"dance"}]}]}"#;
        assert!(Scenario::from_json(bad).is_err());
        let bad = r#"{"rules":[{"on":"conversation_created","step":[]}]}"#;
        assert!(Scenario::from_json(bad).is_err());
    }

    #[test]
    fn the_survey_defaults_and_can_be_defined_or_disabled() {
        let none = Scenario::from_json(r#"{"survey": null}"#).unwrap();
        assert_eq!(none.survey, None);
        let default = Scenario::from_json("{}").unwrap();
        assert_eq!(default.survey, Some(Survey::default()));
        let own = r#"{"survey": {"questions": [{"text": "Resolved?", "replies": ["Yes", "No"]}]}}"#;
        let own = Scenario::from_json(own).unwrap().survey.unwrap();
        assert_eq!(own.closing, "Thank you for your time.");
        let (event, metadata) = own.question(0).unwrap();
        assert_eq!(event["quickReplies"]["replies"][1]["title"], "No");
        let answer = &event["quickReplies"]["replies"][1]["click"]["metadata"][0];
        assert_eq!(answer["questionId"], metadata[0]["id"]);
        assert_eq!(metadata[0]["replies"][1], answer["id"]);
        assert!(own.question(1).is_none());
    }

    #[test]
    fn auto_round_trips_through_json() {
        let auto = Scenario::auto(Duration::from_millis(5));
        let text = serde_json::to_string(&auto).unwrap();
        assert_eq!(Scenario::from_json(&text).unwrap(), auto);
    }
}
