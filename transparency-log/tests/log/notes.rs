//! Signed notes and keys against golang.org/x/mod's `sumdb/note/note_test.go` vectors, and
//! signed checkpoints.

use transparency_log::{
    Checkpoint, CheckpointError, Hash, KeyError, MAX_NOTE_BYTES, NoteError, SigningKey,
    VerifierKey, leaf_hash,
};

const PETER_PRIVATE: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIGNATURE: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIGNATURE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter() -> VerifierKey {
    PETER.parse().unwrap()
}

fn enoch() -> VerifierKey {
    ENOCH.parse().unwrap()
}

fn signed_by_peter() -> String {
    format!("{TEXT}\n{PETER_SIGNATURE}")
}

#[test]
fn signing_reproduces_the_published_note() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    assert_eq!(key.name(), "PeterNeumann");
    assert_eq!(key.key_id(), 0xc74f20a3);
    assert_eq!(key.verifier_key().to_string(), PETER);
    assert_eq!(key.sign_note(TEXT).unwrap(), signed_by_peter());
}

#[test]
fn the_published_note_opens_with_its_key() {
    let note = signed_by_peter();
    assert_eq!(peter().open_note(&note), Ok(TEXT));
    // The text is not a checkpoint, so it opens as a note but not as a checkpoint.
    assert!(matches!(peter().open(&note), Err(NoteError::Checkpoint(_))));
}

#[test]
fn other_signers_lines_are_ignored() {
    let note = format!("{TEXT}\n{PETER_SIGNATURE}{ENOCH_SIGNATURE}");
    assert_eq!(peter().open_note(&note), Ok(TEXT));
    assert_eq!(enoch().open_note(&note), Ok(TEXT));
    let corrupt_enoch = format!("{}ABCD{}", &ENOCH_SIGNATURE[..60], &ENOCH_SIGNATURE[60..]);
    let note = format!("{TEXT}\n{PETER_SIGNATURE}{corrupt_enoch}");
    assert_eq!(peter().open_note(&note), Ok(TEXT));
}

#[test]
fn a_tampered_text_is_refused() {
    let note = signed_by_peter().replacen("cryptography", "cryptocurrency", 1);
    assert_eq!(
        peter().open_note(&note),
        Err(NoteError::BadSignature("PeterNeumann+c74f20a3".into()))
    );
}

#[test]
fn a_note_not_signed_by_the_key_is_refused() {
    assert_eq!(
        enoch().open_note(&signed_by_peter()),
        Err(NoteError::NotSignedBy("EnochRoot+af0cfe78".into()))
    );
}

#[test]
fn a_signature_under_another_key_id_is_not_the_keys() {
    // Same name, another key id: another key, so ignored, and nothing else signs.
    let note = signed_by_peter().replacen("x08g", "xxxx", 1);
    assert_eq!(
        peter().open_note(&note),
        Err(NoteError::NotSignedBy("PeterNeumann+c74f20a3".into()))
    );
    // Same key id, another name: likewise.
    let note = signed_by_peter().replacen("PeterNeumann", "CarmenSandiego", 1);
    assert!(matches!(
        peter().open_note(&note),
        Err(NoteError::NotSignedBy(_))
    ));
}

#[test]
fn a_truncated_or_altered_signature_is_refused() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    let truncated = {
        let signature = ed25519_signature(&key, TEXT);
        let payload = [&key.key_id().to_be_bytes()[..], &signature[..63]].concat();
        format!("{TEXT}\n\u{2014} PeterNeumann {}\n", base64(&payload))
    };
    let altered = format!(
        "{TEXT}\n{}ABCD{}",
        &PETER_SIGNATURE[..60],
        &PETER_SIGNATURE[60..]
    );
    for note in [truncated, altered] {
        assert_eq!(
            peter().open_note(&note),
            Err(NoteError::BadSignature("PeterNeumann+c74f20a3".into())),
            "{note}"
        );
    }
}

#[test]
fn a_valid_signature_does_not_excuse_a_bad_one_by_the_same_key() {
    let altered = format!("{}ABCD{}", &PETER_SIGNATURE[..60], &PETER_SIGNATURE[60..]);
    let note = format!("{TEXT}\n{PETER_SIGNATURE}{altered}");
    assert!(matches!(
        peter().open_note(&note),
        Err(NoteError::BadSignature(_))
    ));
}

#[test]
fn malformed_notes_are_refused() {
    let cases = [
        (TEXT.to_owned(), NoteError::NoSignatures),
        (format!("{TEXT}\n"), NoteError::NoSignatures),
        (
            format!("{TEXT}\n{}", PETER_SIGNATURE.trim_end_matches('\n')),
            NoteError::NoSignatures,
        ),
        (
            format!("\x01{TEXT}\n{PETER_SIGNATURE}"),
            NoteError::ControlCharacter,
        ),
        (
            format!(
                "{TEXT}\n{}",
                PETER_SIGNATURE.replacen("PeterNeumann", "Bad Name", 1)
            ),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{TEXT}\n{PETER_SIGNATURE}Unexpected line.\n"),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{TEXT}\n{}", PETER_SIGNATURE.replacen('\u{2014}', "-", 1)),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
            NoteError::BadSignatureLine,
        ),
    ];
    for (note, error) in cases {
        assert_eq!(peter().open_note(&note), Err(error), "{note:?}");
    }
}

#[test]
fn a_note_over_the_size_limit_is_refused() {
    let text = "a\n".repeat(MAX_NOTE_BYTES / 2);
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    let note = key.sign_note(&text).unwrap();
    assert_eq!(
        peter().open_note(&note),
        Err(NoteError::TooLarge(note.len()))
    );
}

#[test]
fn only_note_text_can_be_signed() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    assert_eq!(key.sign_note(""), Err(NoteError::BadText));
    assert_eq!(key.sign_note("no newline"), Err(NoteError::BadText));
    assert_eq!(
        key.sign_note("tab\there\n"),
        Err(NoteError::ControlCharacter)
    );
    // A text with blank lines of its own still opens as itself.
    let text = "first\n\nthird\n\n";
    assert_eq!(peter().open_note(&key.sign_note(text).unwrap()), Ok(text));
}

#[test]
fn a_mangled_key_text_is_refused() {
    for key in [PETER_PRIVATE, PETER] {
        let private = key.starts_with("PRIVATE");
        let parses = |text: &str| {
            if private {
                text.parse::<SigningKey>().is_ok()
            } else {
                text.parse::<VerifierKey>().is_ok()
            }
        };
        assert!(parses(key));
        for start in 0..key.len() {
            for end in start + 1..=key.len() {
                if (start, end) != (0, key.len()) {
                    assert!(!parses(&key[start..end]), "{}", &key[start..end]);
                }
            }
        }
        let mut bytes = key.as_bytes().to_vec();
        for i in 0..bytes.len() {
            bytes[i] += 1;
            let mangled = String::from_utf8(bytes.clone()).unwrap();
            assert!(!parses(&mangled), "{mangled}");
            bytes[i] -= 1;
        }
    }
}

#[test]
fn key_texts_are_refused_for_what_is_wrong_with_them() {
    // golang.org/x/mod's wrong-length key is not even canonical base64.
    let go_wrong_length =
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==";
    assert_eq!(
        go_wrong_length.parse::<VerifierKey>(),
        Err(KeyError::Malformed)
    );
    let short = format!("PeterNeumann+c74f20a3+{}", base64(&[1; 32]));
    assert_eq!(short.parse::<VerifierKey>(), Err(KeyError::WrongLength(32)));
    let unknown_algorithm = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    assert!(matches!(
        unknown_algorithm.parse::<VerifierKey>(),
        Err(KeyError::UnknownAlgorithm(_))
    ));
    let wrong_id = PETER.replacen("c74f20a3", "c74f20a4", 1);
    assert_eq!(
        wrong_id.parse::<VerifierKey>(),
        Err(KeyError::KeyIdMismatch {
            stated: 0xc74f20a4,
            computed: 0xc74f20a3
        })
    );
    let wrong_private_id = PETER_PRIVATE.replacen("c74f20a3", "00000000", 1);
    assert!(matches!(
        wrong_private_id.parse::<SigningKey>(),
        Err(KeyError::KeyIdMismatch {
            stated: 0,
            computed: 0xc74f20a3
        })
    ));
    assert_eq!(
        PETER.parse::<SigningKey>().unwrap_err(),
        KeyError::Malformed
    );
    assert_eq!(
        format!("{PETER}+extra").parse::<VerifierKey>(),
        Err(KeyError::Malformed)
    );
    // Surrounding whitespace, as a key file ends, is not part of the key.
    assert_eq!(format!("{PETER}\n").parse::<VerifierKey>(), Ok(peter()));
}

#[test]
fn key_names_hold_no_plus_whitespace_or_control_character() {
    for name in ["", "a+b", "a b", "a\tb", "a\u{00a0}b", "a\u{7f}b"] {
        assert_eq!(
            SigningKey::generate(name).map(|_| ()),
            Err(KeyError::BadName),
            "{name:?}"
        );
    }
}

#[test]
fn a_generated_key_signs_checkpoints_its_verifier_opens() {
    let (private, verifier) = SigningKey::generate("supplyline.example/log").unwrap();
    let key: SigningKey = private.parse().unwrap();
    let verifier: VerifierKey = verifier.parse().unwrap();
    assert_eq!(key.verifier_key(), verifier);
    let checkpoint = Checkpoint::new("supplyline.example/log", 42, leaf_hash(b"root")).unwrap();
    let note = key.sign(&checkpoint);
    assert!(note.starts_with(&checkpoint.to_body()));
    assert_eq!(verifier.open(&note), Ok(checkpoint.clone()));
    // Another generated key neither opens it nor is confused with it.
    let (_, other) = SigningKey::generate("supplyline.example/log").unwrap();
    let other: VerifierKey = other.parse().unwrap();
    assert!(matches!(other.open(&note), Err(NoteError::NotSignedBy(_))));
    // A witness's cosignature after the log's does not hurt.
    let (witness_private, witness) = SigningKey::generate("witness.example").unwrap();
    let witness_key: SigningKey = witness_private.parse().unwrap();
    let cosigned = format!(
        "{note}{}",
        witness_key.sign(&checkpoint).split_once("\n\n").unwrap().1
    );
    assert_eq!(verifier.open(&cosigned), Ok(checkpoint.clone()));
    assert_eq!(
        witness.parse::<VerifierKey>().unwrap().open(&cosigned),
        Ok(checkpoint)
    );
}

#[test]
fn an_edited_checkpoint_does_not_open() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    let checkpoint = Checkpoint::new("example.com/log", 8, leaf_hash(b"root")).unwrap();
    let note = key.sign(&checkpoint);
    let edited = note.replacen("\n8\n", "\n9\n", 1);
    assert!(matches!(
        peter().open(&edited),
        Err(NoteError::BadSignature(_))
    ));
    let other_root = note.replacen(
        &leaf_hash(b"root").to_base64(),
        &Hash::EMPTY_ROOT.to_base64(),
        1,
    );
    assert!(matches!(
        peter().open(&other_root),
        Err(NoteError::BadSignature(_))
    ));
}

#[test]
fn a_signed_malformed_checkpoint_is_refused_after_its_signature() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    let note = key.sign_note("example.com/log\n08\nAAAA\n").unwrap();
    assert_eq!(
        peter().open(&note),
        Err(NoteError::Checkpoint(CheckpointError::BadSize))
    );
}

#[test]
fn a_private_key_never_shows_in_debug_output() {
    let key: SigningKey = PETER_PRIVATE.parse().unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("PeterNeumann"), "{shown}");
    assert!(!shown.contains("AYEKFALV"), "{shown}");
    assert!(!shown.contains("810a1402"), "{shown}");
}

fn ed25519_signature(key: &SigningKey, text: &str) -> Vec<u8> {
    // The signature is the note's line minus the key id: sign and decode.
    let note = key.sign_note(text).unwrap();
    let line = note.rsplit_once("\n\n").unwrap().1;
    let encoded = line.trim_end().rsplit_once(' ').unwrap().1;
    unbase64(encoded)[4..].to_vec()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unbase64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
