//! The post-conversation survey bot: opens the POST_SURVEY dialog when a `MULTI_DIALOG` client
//! closes the MAIN dialog, asks the [`Survey`]'s questions, reads each answer and closes the
//! survey when done, as the PCS tutorial's captures show it
//! (`messaging-window-api-tutorials-post-conversation-survey-pcs.html`).
//!
//! The bot acts at once, inside the critical section that handled the consumer's request, so a
//! client sees its response, then its own echo, then the bot (deterministic; the captures show
//! the bot within 15–500 ms).

use base64::Engine as _;
use serde_json::json;
use uuid::Uuid;

use crate::hub::State;
use crate::model::{now_ms, ClosedBy, Dialog, DialogAt, DialogType, Role};
use crate::scenario::{survey_text, Survey};

/// Namespace of the survey bot's id and app install id (UUIDv5 of the account).
const BOT_NAMESPACE: Uuid = Uuid::from_u128(0x2fa9_ac85_d8a9_5bd6_8384_8c32_daba_e97f);

/// The `closedCause` of a survey the bot ends (PCS capture "Conversation closed - Survey
/// completed").
pub(crate) const COMPLETED: &str = "Completed";

/// The survey bot's participant id on `account` (role `AGENT`).
pub(crate) fn bot_id(account: &str) -> String {
    Uuid::new_v5(&BOT_NAMESPACE, account.as_bytes()).to_string()
}

/// A new dialog id: 16 random bytes in unpadded base64url, 22 characters like the captured
/// `PwT_YK91Sum3vu5H6T3YnA`.
fn dialog_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

impl State {
    /// Opens the POST_SURVEY dialog of conversation `conv`, whose MAIN dialog has just
    /// closed: the previous agent becomes a READER, the bot (`AGENT`) joins, and its greeting
    /// and first question are stored at sequences 0 and 1, for the consumer's subscription to
    /// the new dialog to replay. Metadata subscribers are not told here: the caller sends one
    /// UPSERT with MAIN closed and the survey open, as the capture shows.
    pub(crate) fn open_survey(&mut self, conv: usize, survey: &Survey) -> DialogAt {
        let now = now_ms();
        let c = &mut self.conversations[conv];
        let bot = bot_id(&c.brand_id);
        let agents: Vec<String> = c
            .participants
            .iter()
            .filter(|p| p.role == Role::AssignedAgent)
            .map(|p| p.id.clone())
            .collect();
        for agent in agents {
            c.add_participant(&agent, Role::Reader);
        }
        c.add_participant(&bot, Role::Agent);
        c.last_update_ts = now;
        let mut dialog = Dialog::of_type(dialog_id(), DialogType::PostSurvey, now);
        let install = Uuid::new_v5(&BOT_NAMESPACE, format!("{bot}/app").as_bytes());
        dialog.meta_data = Some(json!({"appInstallId": install.to_string()}));
        let at = self.add_dialog(conv, dialog);
        let by = (bot.as_str(), Role::Agent);
        if !survey.greeting.is_empty() {
            self.publish(at, by, survey_text(&survey.greeting), None);
        }
        if let Some((question, metadata)) = survey.question(0) {
            self.publish(at, by, question, Some(metadata));
        }
        at
    }

    /// The consumer answered in the survey dialog `at` with the message at `sequence`: the
    /// bot marks it READ, types, then asks the next question, or thanks the consumer and
    /// closes the survey (`closedBy` AGENT, `closedCause` "Completed"), which ends the
    /// conversation (`stage` CLOSE). Typing `skip` ends the survey at once, as the captured
    /// greeting offers.
    pub(crate) fn survey_answered(
        &mut self,
        at: DialogAt,
        survey: &Survey,
        (sequence, text): (u64, Option<&str>),
    ) {
        let c = &self.conversations[at.conv];
        let bot = bot_id(&c.brand_id);
        let by = (bot.as_str(), Role::Agent);
        let answered = c.dialogs[at.dialog]
            .events
            .iter()
            .filter(|e| e.role == Role::Consumer && e.is_message())
            .count();
        let skipped = text.is_some_and(|t| t.trim().eq_ignore_ascii_case("skip"));
        let read =
            json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [sequence]});
        self.publish(at, by, read, None);
        self.bot_chat_state(at, &bot, "COMPOSING");
        let next = (!skipped).then(|| survey.question(answered)).flatten();
        match next {
            Some((question, metadata)) => {
                self.publish(at, by, question, Some(metadata));
                self.bot_chat_state(at, &bot, "ACTIVE");
            }
            None => {
                self.publish(at, by, survey_text(&survey.closing), None);
                self.bot_chat_state(at, &bot, "ACTIVE");
                self.conversations[at.conv].close_dialog(
                    at.dialog,
                    ClosedBy::Agent,
                    COMPLETED,
                    now_ms(),
                );
                self.forget_if_closed(at.conv);
                self.notify_metadata(at.conv);
            }
        }
    }

    fn bot_chat_state(&mut self, at: DialogAt, bot: &str, state: &str) {
        let event = json!({"type": "ChatStateEvent", "chatState": state});
        let change =
            self.conversations[at.conv].chat_state_change(at.dialog, (bot, Role::Agent), event);
        self.notify_dialog(at, change);
    }
}

#[cfg(test)]
mod tests;
