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
    /// The `groupId` of the questions (and of a "Skip" reply); default a stable UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
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
    /// The question's `id` in metadata; default a stable UUID of the survey and its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The replies' `id`s, in order; default stable UUIDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_ids: Vec<String>,
}

fn default_survey_id() -> String {
    "499706313".to_owned()
}

fn default_closing() -> String {
    "Thank you for your time.".to_owned()
}

impl Default for Survey {
    /// The PCS tutorial's survey, with the ids of its capture, so the page's answer frames
    /// work verbatim.
    fn default() -> Self {
        let mut replies: Vec<String> = (1..=5).map(|n| n.to_string()).collect();
        replies.push("Skip".to_owned());
        let reply_ids = [
            "4f7c6a7b-033b-4171-a361-abf99e0ea493",
            "1faabbda-05c3-47aa-90af-e6aea481caa4",
            "6a565783-6d86-432f-bf90-2edd32bc0d6d",
            "7aa0012a-1f69-4a98-9b9e-8b650759b57b",
            "e271cef2-32b1-463d-8f4b-9c0f8d52b3b1",
            "e02365f0-4361-44e7-aafd-f75f33929373",
        ];
        Self {
            survey_id: default_survey_id(),
            group_id: Some("d55ffc18-da33-4c40-a20a-2958ec3f4c88".to_owned()),
            greeting: "Hello, I’m the survey bot and I would like to collect your feedback \
                       following your past interaction. If you’d like to skip the whole survey \
                       type ‘skip’ at any point"
                .to_owned(),
            questions: vec![SurveyQuestion {
                text: "How would you rate your overall experience?".to_owned(),
                replies,
                id: Some("3e70da9b-76de-4c2a-911e-a41aee698b82".to_owned()),
                reply_ids: reply_ids.map(str::to_owned).to_vec(),
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
        let question_id = (question.id.clone()).unwrap_or_else(|| self.id(&format!("q{index}")));
        let group_id = (self.group_id.clone()).unwrap_or_else(|| self.id("group"));
        let reply_ids: Vec<String> = (0..question.replies.len())
            .map(|r| {
                (question.reply_ids.get(r).cloned())
                    .unwrap_or_else(|| self.id(&format!("q{index}r{r}")))
            })
            .collect();
        let buttons: Vec<Value> = question
            .replies
            .iter()
            .zip(&reply_ids)
            .map(|(title, id)| {
                let mut answer =
                    json!({"type": "Answer", "questionId": question_id, "id": id, "provider": "AC"});
                // The capture's Skip button also names the question group.
                if title.eq_ignore_ascii_case("skip") {
                    answer["groupId"] = group_id.clone().into();
                }
                button(title, answer)
            })
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
            "groupId": group_id,
            "surveyId": self.survey_id,
            "provider": "AC",
            "replies": reply_ids,
        }]);
        Some((event, metadata))
    }

    /// A stable id for `what` in this survey.
    fn id(&self, what: &str) -> String {
        Uuid::new_v5(
            &SURVEY_NAMESPACE,
            format!("{}/{what}", self.survey_id).as_bytes(),
        )
        .to_string()
    }
}

/// A text/plain ContentEvent from the bot.
pub(crate) fn text(message: &str) -> Value {
    json!({"type": "ContentEvent", "message": message, "contentType": "text/plain"})
}

/// One quick-reply button, styled as in the capture, whose click sends `answer` back.
fn button(title: &str, answer: Value) -> Value {
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
            "metadata": [answer],
            "actions": [{"type": "publishText", "text": title}],
        },
    })
}
