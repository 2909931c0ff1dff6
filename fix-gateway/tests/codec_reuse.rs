//! `Message::decode_into` (one Message reused across buffers) agrees with `decode`,
//! and validation gives the same verdicts whatever was validated before.
use arbiter_fix::{decode, validate, FixVersion, Message};

fn soh(s: &str) -> Vec<u8> {
    s.replace('|', "\x01").into_bytes()
}

const NOS: &str = "8=FIX.4.4|9=1|35=D|49=C|56=S|34=2|52=20240101-00:00:00|11=a|\
453=2|448=A|447=D|452=1|448=B|452=3|54=1|60=20240101-00:00:00|40=2|38=100|44=1.5|55=X|10=000|";

#[test]
fn decode_into_matches_decode() {
    let inputs = [
        soh(NOS),
        soh("8=FIX.4.4|9=1|35=0|10=000|"),
        soh("8=FIX.4.4|9=1|35=0|10=000"),
        soh("9=1|8=FIX.4.4|35=0|10=000|"),
        soh("8=FIX.4.4|9=1|012=x|10=000|"),
        Vec::new(),
        soh(NOS),
    ];
    let mut reused = Message::empty(&inputs[0]);
    for bytes in &inputs {
        let fresh = decode(bytes);
        let into = reused.decode_into(bytes);
        match fresh {
            Ok(m) => {
                assert_eq!(into, Ok(()));
                assert!(m.fields().eq(reused.fields()));
                assert_eq!(reused.as_bytes(), &bytes[..]);
            }
            Err(e) => {
                assert_eq!(into, Err(e));
                assert_eq!(reused.len(), 0);
            }
        }
    }
}

#[test]
fn verdicts_do_not_depend_on_history() {
    let good = soh(NOS);
    let variants = [
        NOS.replace("453=2", "453=3"),
        NOS.replace("453=2", "453=1"),
        NOS.replace("54=1", "54=Z"),
        NOS.replace("38=100", "38=1x0"),
        NOS.replace("52=20240101-00:00:00", "52=20241701-00:00:00"),
        NOS.replace("44=1.5", "44="),
        NOS.replace("35=D", "35=G"),
        NOS.to_string(),
    ];
    for variant in &variants {
        let bytes = soh(variant);
        let msg = decode(&bytes).unwrap();
        // First on its own, then right after the good message of the same shape.
        let alone = validate(&msg, FixVersion::Fix44).map(|d| d.name);
        let alone_fixt = validate(&msg, FixVersion::Fixt11).map(|d| d.name);
        for version in [FixVersion::Fix44, FixVersion::Fixt11] {
            validate(&decode(&good).unwrap(), version).unwrap();
            let again = validate(&msg, FixVersion::Fix44).map(|d| d.name);
            assert_eq!(again, alone, "{variant}");
            let again = validate(&msg, FixVersion::Fixt11).map(|d| d.name);
            assert_eq!(again, alone_fixt, "{variant}");
        }
    }
}
