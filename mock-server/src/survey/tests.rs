//! Unit tests of the parent module.

use super::*;
use crate::model::Conversation;
use crate::scenario::SurveyQuestion;

/// A state with one conversation of `me` whose agent joined and whose MAIN dialog closed.
fn closed_main() -> (State, usize) {
    let mut state = State::default();
    let mut conv = Conversation::new("c".into(), "me".into(), "1".into(), "-1".into());
    conv.add_participant("agent", Role::AssignedAgent);
    let conv = state.add_conversation(conv);
    state.conversations[conv].close_dialog(0, ClosedBy::Consumer, "Closed by consumer", now_ms());
    (state, conv)
}

fn two_questions() -> Survey {
    let question = |text: &str| SurveyQuestion {
        text: text.to_owned(),
        replies: vec!["Yes".to_owned(), "No".to_owned()],
        id: None,
        reply_ids: Vec::new(),
    };
    Survey {
        greeting: String::new(),
        questions: vec![question("Resolved?"), question("Recommend us?")],
        ..Survey::default()
    }
}

fn answer(state: &mut State, at: DialogAt, survey: &Survey, text: &str) {
    let event = json!({"type": "ContentEvent", "message": text, "contentType": "text/plain"});
    let sequence = state.publish(at, ("me", Role::Consumer), event, None);
    state.survey_answered(at, survey, (sequence, Some(text)));
}

#[test]
fn the_survey_dialog_is_found_by_its_id_and_starts_with_the_greeting_and_a_question() {
    let (mut state, conv) = closed_main();
    let at = state.open_survey(conv, &Survey::default());
    let dialog = &state.conversations[conv].dialogs[at.dialog];
    assert_eq!(dialog.kind, DialogType::PostSurvey);
    assert_eq!(dialog.id.len(), 22);
    assert_eq!(
        state.consumer_dialog("1", "me", &dialog.id.clone()),
        Some(at)
    );
    assert_eq!(
        state.consumer_dialog("1", "other", &dialog.id.clone()),
        None
    );
    let dialog = &state.conversations[conv].dialogs[at.dialog];
    let sequences: Vec<u64> = dialog.events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, [0, 1]);
    assert!(dialog.events.iter().all(|e| e.role == Role::Agent));
    assert!(dialog.events[1].metadata.is_some(), "the Question metadata");
    let c = &state.conversations[conv];
    assert!(c.has_participant("agent", Role::Reader));
    assert!(c.has_participant(&bot_id("1"), Role::Agent));
}

#[test]
fn each_answer_gets_the_next_question_and_the_last_closes_the_conversation() {
    let (mut state, conv) = closed_main();
    let survey = two_questions();
    let at = state.open_survey(conv, &survey);
    assert_eq!(state.open_conversation_of("1", "me"), Some(conv));
    answer(&mut state, at, &survey, "Yes");
    let dialog = &state.conversations[conv].dialogs[at.dialog];
    let last = dialog.events.last().unwrap();
    assert_eq!(last.event["message"], "Recommend us?");
    assert_eq!(dialog.events[1].receipt(), None, "the answer");
    let read = dialog.events[2].receipt().unwrap();
    assert_eq!(read, (crate::model::ReceiptStatus::Read, vec![1]));
    assert!(state.conversations[conv].is_open());

    answer(&mut state, at, &survey, "No");
    let c = &state.conversations[conv];
    assert!(!c.is_open());
    let closed = c.dialogs[at.dialog].closed.as_ref().unwrap();
    assert_eq!(
        (closed.by, closed.cause.as_str()),
        (ClosedBy::Agent, COMPLETED)
    );
    let last = c.dialogs[at.dialog].events.last().unwrap();
    assert_eq!(last.event["message"], "Thank you for your time.");
    assert_eq!(
        state.open_conversation_of("1", "me"),
        None,
        "may start again"
    );
}

#[test]
fn skip_ends_the_survey_at_once() {
    let (mut state, conv) = closed_main();
    let survey = two_questions();
    let at = state.open_survey(conv, &survey);
    answer(&mut state, at, &survey, " SKIP ");
    assert!(!state.conversations[conv].is_open());
}
