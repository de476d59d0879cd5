//! [`Survey`]: the post-conversation survey a scenario file can define (`"survey": {...}`), and
//! the survey bot's events built from it, shaped as the PCS tutorial's captures show them: a
//! question is a `text/plain` `ContentEvent` with a `quickReplies` object, and the change
//! carries `metadata` `[{"type":"Question",...}]`; each button's click carries the matching
//! `Answer` metadata the consumer sends back.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// Namespace of the question and answer ids (UUIDv5 of survey id, question and reply index).
const SURVEY_NAMESPACE: Uuid = Uuid::from_u128(0x3e70_da9b_76de_4c2a_911e_a41a_ee69_8b82);

/// The post-conversation survey: what the survey bot says in the POST_SURVEY dialog.
///
/// The default is the PCS tutorial's: its greeting, one question ("How would you rate your
/// overall experience?", buttons 1–5 and Skip) and "Thank you for your time.".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// The `surveyId` in each question's metadata.
    #[serde(default = "default_survey_id")]
    pub survey_id: String,
    /// The bot's first message (none when empty).
    #[serde(default)]
    pub greeting: String,
    /// The questions, asked one after the other; each consumer message answers the current
    /// one (with none, the first consumer message ends the survey).
    pub questions: Vec<SurveyQuestion>,
    /// The bot's last message, before it closes the dialog.
    #[serde(default = "default_closing")]
    pub closing: String,
}

/// One survey question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyQuestion {
    /// The question text.
    pub text: String,
    /// The quick-reply buttons' titles (none: a free-text question without `quickReplies`).
    #[serde(default)]
    pub replies: Vec<String>,
}

fn default_survey_id() -> String {
    "499706313".to_owned()
}

fn default_closing() -> String {
    "Thank you for your time.".to_owned()
}

impl Default for Survey {
    fn default() -> Self {
        let mut replies: Vec<String> = (1..=5).map(|n| n.to_string()).collect();
        replies.push("Skip".to_owned());
        Self {
            survey_id: default_survey_id(),
            greeting: "Hello, I’m the survey bot and I would like to collect your feedback \
                       following your past interaction. If you’d like to skip the whole survey \
                       type ‘skip’ at any point"
                .to_owned(),
            questions: vec![SurveyQuestion {
                text: "How would you rate your overall experience?".to_owned(),
                replies,
            }],
            closing: default_closing(),
        }
    }
}

impl Survey {
    /// The default survey wrapped for a scenario's `survey` field.
    pub(crate) fn default_some() -> Option<Self> {
        Some(Self::default())
    }

    /// Question `index`'s event and its change-level `metadata`, or `None` past the last one.
    pub(crate) fn question(&self, index: usize) -> Option<(Value, Value)> {
        let question = self.questions.get(index)?;
        let question_id = self.id(&format!("q{index}"));
        let reply_ids: Vec<String> = (0..question.replies.len())
            .map(|r| self.id(&format!("q{index}r{r}")))
            .collect();
        let buttons: Vec<Value> = question
            .replies
            .iter()
            .zip(&reply_ids)
            .map(|(title, id)| button(title, &question_id, id))
            .collect();
        let mut event = json!({
            "type": "ContentEvent",
            "message": question.text,
            "contentType": "text/plain",
        });
        if !buttons.is_empty() {
            event["quickReplies"] =
                json!({"type": "quickReplies", "itemsPerRow": 8, "replies": buttons});
        }
        let metadata = json!([{
            "type": "Question",
            "id": question_id,
            "groupId": self.id("group"),
            "surveyId": self.survey_id,
            "provider": "AC",
            "replies": reply_ids,
        }]);
        Some((event, metadata))
    }

    /// A stable id for `what` in this survey.
    fn id(&self, what: &str) -> String {
        Uuid::new_v5(&SURVEY_NAMESPACE, format!("{}/{what}", self.survey_id).as_bytes()).to_string()
    }
}

/// A text/plain ContentEvent from the bot.
pub(crate) fn text(message: &str) -> Value {
    json!({"type": "ContentEvent", "message": message, "contentType": "text/plain"})
}

/// One quick-reply button, styled as in the capture.
fn button(title: &str, question_id: &str, id: &str) -> Value {
    json!({
        "type": "button",
        "tooltip": title,
        "title": title,
        "style": {
            "bold": false,
            "size": "medium",
            "italic": false,
            "color": "#4d4e4e",
            "background-color": "#ffffff",
            "border-color": "#d0d2d3",
            "border-radius": 14,
        },
        "click": {
            "metadata": [{"type": "Answer", "questionId": question_id, "id": id, "provider": "AC"}],
            "actions": [{"type": "publishText", "text": title}],
        },
    })
}
