//! Dictionary validation of a decoded message, producing SessionRejectReason codes
//! with the offending RefTagID, as a session-level Reject(3) needs them.

use std::cell::RefCell;

use crate::decode::{parse_i64, parse_u64, FieldEntry, Message, FIELDS_MAX};
use crate::dictionary::{
    field_index, kind, tag_info, FieldDef, FieldSet, FieldType, FixVersion, GroupDef, MessageDef,
    TagInfo, ValueCheck, FIELDS, HEADER_FIELDS, HEADER_REQUIRED, VALUE_CHECKS,
};
use crate::time::{is_utc_timestamp, parse_date_days};

/// SessionRejectReason(373) values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum SessionRejectReason {
    /// 0: tag number not in the dictionary.
    InvalidTagNumber = 0,
    /// 1: a required tag is missing.
    RequiredTagMissing = 1,
    /// 2: the tag is not defined for this message type.
    TagNotDefinedForMessageType = 2,
    /// 4: `tag=` with an empty value.
    TagSpecifiedWithoutValue = 4,
    /// 5: value out of range / not in the enum.
    ValueIsIncorrect = 5,
    /// 6: value does not parse as the field's type.
    IncorrectDataFormat = 6,
    /// 9: SenderCompID/TargetCompID do not match the session.
    CompIdProblem = 9,
    /// 10: SendingTime outside the accepted accuracy.
    SendingTimeAccuracyProblem = 10,
    /// 11: unknown MsgType.
    InvalidMsgType = 11,
    /// 13: tag appears more than once.
    TagAppearsMoreThanOnce = 13,
    /// 14: tag specified out of required order (header after body, 8/9/35 not first).
    TagSpecifiedOutOfRequiredOrder = 14,
    /// 15: repeating group fields out of order.
    RepeatingGroupFieldsOutOfOrder = 15,
    /// 16: NumInGroup count differs from the number of entries.
    IncorrectNumInGroupCount = 16,
    /// 99: other.
    Other = 99,
}

impl SessionRejectReason {
    /// The standard text, as QuickFIX users see it in Text(58).
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Self::InvalidTagNumber => "Invalid tag number",
            Self::RequiredTagMissing => "Required tag missing",
            Self::TagNotDefinedForMessageType => "Tag not defined for this message type",
            Self::TagSpecifiedWithoutValue => "Tag specified without a value",
            Self::ValueIsIncorrect => "Value is incorrect (out of range) for this tag",
            Self::IncorrectDataFormat => "Incorrect data format for value",
            Self::CompIdProblem => "CompID problem",
            Self::SendingTimeAccuracyProblem => "SendingTime accuracy problem",
            Self::InvalidMsgType => "Invalid MsgType",
            Self::TagAppearsMoreThanOnce => "Tag appears more than once",
            Self::TagSpecifiedOutOfRequiredOrder => "Tag specified out of required order",
            Self::RepeatingGroupFieldsOutOfOrder => "Repeating group fields out of order",
            Self::IncorrectNumInGroupCount => "Incorrect NumInGroup count for repeating group",
            Self::Other => "Other",
        }
    }
}

/// A validation failure: the reason and the tag it concerns (RefTagID 371).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionReject {
    /// SessionRejectReason(373).
    pub reason: SessionRejectReason,
    /// RefTagID(371), if the problem is about one tag.
    pub ref_tag: Option<u32>,
}

impl SessionReject {
    /// A reject for `reason` about `tag`.
    #[must_use]
    pub const fn new(reason: SessionRejectReason, tag: u32) -> Self {
        SessionReject {
            reason,
            ref_tag: Some(tag),
        }
    }
}

impl core::fmt::Display for SessionReject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.ref_tag {
            Some(t) => write!(f, "{} ({})", self.reason.text(), t),
            None => write!(f, "{}", self.reason.text()),
        }
    }
}

impl std::error::Error for SessionReject {}

use SessionRejectReason as R;

/// Checks one value against its field definition.
///
/// # Errors
/// Reason 4, 5 or 6 with the field's tag.
pub fn check_value(def: &FieldDef, value: &[u8]) -> Result<(), SessionReject> {
    let fail = |reason| Err(SessionReject::new(reason, def.tag));
    if value.is_empty() {
        return fail(R::TagSpecifiedWithoutValue);
    }
    let format_ok = match def.ty {
        FieldType::Int => parse_i64(value).is_some(),
        FieldType::SeqNum | FieldType::Length | FieldType::NumInGroup => parse_u64(value).is_some(),
        FieldType::Decimal => is_decimal(value),
        FieldType::Char => value.len() == 1,
        FieldType::Boolean => value == b"Y" || value == b"N",
        FieldType::UtcTimestamp => is_utc_timestamp(value),
        FieldType::Date => parse_date_days(value).is_some(),
        FieldType::String | FieldType::MultipleCharValue => true,
    };
    if !format_ok {
        return fail(R::IncorrectDataFormat);
    }
    if !def.values.is_empty() {
        let in_enum = |v: &[u8]| def.values.iter().any(|e| e.as_bytes() == v);
        let ok = if def.ty == FieldType::MultipleCharValue {
            value.split(|&b| b == b' ').all(in_enum)
        } else {
            in_enum(value)
        };
        if !ok {
            return fail(R::ValueIsIncorrect);
        }
    }
    Ok(())
}

/// [`check_value`] for dictionary field `index`, using the precomputed
/// [`VALUE_CHECKS`]: a yes/no fast path, with [`check_value`] naming the reason.
#[inline(always)]
fn check_indexed(index: usize, value: &[u8]) -> Result<(), SessionReject> {
    if value_ok(&VALUE_CHECKS[index], index, value) {
        Ok(())
    } else {
        check_value_failed(index, value)
    }
}

#[cold]
#[inline(never)]
fn check_value_failed(index: usize, value: &[u8]) -> Result<(), SessionReject> {
    let result = check_value(&FIELDS[index], value);
    debug_assert!(result.is_err());
    result
}

/// Whether [`check_value`] accepts `value` for dictionary field `index`.
#[inline(always)]
fn value_ok(check: &ValueCheck, index: usize, value: &[u8]) -> bool {
    if value.is_empty() {
        return false;
    }
    let format_ok = match check.ty {
        FieldType::String | FieldType::MultipleCharValue => true,
        FieldType::Char => value.len() == 1,
        FieldType::Decimal => is_decimal(value),
        FieldType::Int => parse_i64(value).is_some(),
        FieldType::SeqNum | FieldType::Length | FieldType::NumInGroup => parse_u64(value).is_some(),
        FieldType::Boolean => value == b"Y" || value == b"N",
        FieldType::UtcTimestamp => is_utc_timestamp(value),
        FieldType::Date => parse_date_days(value).is_some(),
    };
    if !format_ok {
        return false;
    }
    if !check.has_enum {
        return true;
    }
    if check.ty == FieldType::MultipleCharValue {
        value
            .split(|&b| b == b' ')
            .all(|v| in_enum(check, index, v))
    } else {
        in_enum(check, index, value)
    }
}

#[inline(always)]
fn in_enum(check: &ValueCheck, index: usize, value: &[u8]) -> bool {
    match value {
        // A one-byte enum value is ASCII (it is a `&str`), so bytes >= 128 are out.
        [b] => *b < 128 && check.single & (1 << *b) != 0,
        _ => check.has_multi && FIELDS[index].values.iter().any(|e| e.as_bytes() == value),
    }
}

fn is_decimal(value: &[u8]) -> bool {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let mut dots = 0;
    let mut count = 0;
    for &b in digits {
        if b == b'.' {
            dots += 1;
        } else if b.is_ascii_digit() {
            count += 1;
        } else {
            return false;
        }
    }
    dots <= 1 && count > 0
}

/// Validates `msg` against the dictionary of `version`: header order, known tags,
/// tags allowed for the message type, duplicates, value formats and enums, repeating
/// groups (delimiter first, NumInGroup count) and required fields.
///
/// Does not check BeginString, CompIDs, SendingTime accuracy or sequence numbers:
/// those are session decisions.
///
/// # Errors
/// The first problem found, as a [`SessionReject`].
pub fn validate(
    msg: &Message<'_>,
    version: FixVersion,
) -> Result<&'static MessageDef, SessionReject> {
    if let Some(def) = LAST_SHAPE.with(|shape| shape.borrow().revalidate(msg, version)) {
        return Ok(def);
    }
    let mut shape = Shape::EMPTY;
    match validate_fast(msg, version, &mut shape) {
        Some(def) => {
            LAST_SHAPE.with(|last| *last.borrow_mut() = shape);
            Ok(def)
        }
        None => validate_slow(msg, version),
    }
}

/// Most NumInGroup fields with a group one message can hold (each count tag at most
/// once, one per group of the message type).
const SHAPE_GROUPS_MAX: usize = 4;

/// The shape of a message [`validate_fast`] accepted: what its verdict depends on
/// besides the values. Every rule but the value formats and the NumInGroup counts
/// depends only on the version, MsgType and tag sequence; a message of the same
/// shape needs only those two checked.
#[derive(Clone, Copy)]
struct Shape {
    version: Option<FixVersion>,
    def: Option<&'static MessageDef>,
    /// Fields before CheckSum.
    len: usize,
    tags: [u16; FIELDS_MAX],
    infos: [TagInfo; FIELDS_MAX],
    /// (field position, entries) of each group.
    groups: [(usize, u64); SHAPE_GROUPS_MAX],
    group_count: usize,
}

impl Shape {
    const EMPTY: Shape = Shape {
        version: None,
        def: None,
        len: 0,
        tags: [0; FIELDS_MAX],
        infos: [TagInfo::UNKNOWN; FIELDS_MAX],
        groups: [(0, 0); SHAPE_GROUPS_MAX],
        group_count: 0,
    };

    /// Records field `position` of an accepted message.
    #[inline(always)]
    fn push(&mut self, position: usize, tag: u16, info: TagInfo) {
        if let (Some(t), Some(i)) = (self.tags.get_mut(position), self.infos.get_mut(position)) {
            *t = tag;
            *i = info;
        }
    }

    /// Records a group counted by field `position`; false if there is no room.
    #[inline(always)]
    fn push_group(&mut self, position: usize, entries: u64) -> bool {
        match self.groups.get_mut(self.group_count) {
            Some(slot) => {
                *slot = (position, entries);
                self.group_count += 1;
                true
            }
            None => false,
        }
    }

    /// [`validate_fast`]'s verdict on `msg` if it has this shape: `Some(def)` when its
    /// values pass too, `None` otherwise (not this shape, or a bad value).
    #[inline]
    fn revalidate(&self, msg: &Message<'_>, version: FixVersion) -> Option<&'static MessageDef> {
        if self.version != Some(version) {
            return None;
        }
        let def = self.def?;
        let buf = msg.as_bytes();
        let (_, body) = msg.entries().split_last()?;
        if body.len() != self.len
            || value_of(buf, body.get(2)?)? != def.msg_type.as_bytes()
            || !body
                .iter()
                .zip(&self.tags[..self.len])
                .all(|(entry, &tag)| entry.tag == tag)
        {
            return None;
        }
        for (entry, &info) in body.iter().zip(&self.infos[..self.len]) {
            if !value_fast(info, buf, entry) {
                return None;
            }
        }
        for &(position, entries) in &self.groups[..self.group_count] {
            if parse_u64(value_of(buf, body.get(position)?)?)? != entries {
                return None;
            }
        }
        Some(def)
    }
}

thread_local! {
    /// The shape of the last message this thread validated on the fast path.
    static LAST_SHAPE: RefCell<Shape> = const { RefCell::new(Shape::EMPTY) };
}

/// Whether the value of `entry` passes [`check_value`] for the field described by
/// `info`.
#[inline(always)]
fn value_fast(info: TagInfo, buf: &[u8], entry: &FieldEntry) -> bool {
    if entry.len == 0 {
        return false;
    }
    // Text, the most common kind, needs no look at the bytes.
    let kind = info.kind();
    if kind == kind::TEXT {
        return true;
    }
    let Some(value) = value_of(buf, entry) else {
        return false;
    };
    match kind {
        kind::CHAR => value.len() == 1,
        kind::CHAR_ENUM => match value {
            [b] => *b < 128 && VALUE_CHECKS[info.index()].single >> *b & 1 != 0,
            _ => false,
        },
        kind::DECIMAL => is_decimal(value),
        kind::INT => parse_i64(value).is_some(),
        kind::UINT => parse_u64(value).is_some(),
        kind::TIMESTAMP => is_utc_timestamp(value),
        _ => value_ok(&VALUE_CHECKS[info.index()], info.index(), value),
    }
}

/// The value bytes of `entry`.
#[inline(always)]
fn value_of<'a>(buf: &'a [u8], entry: &FieldEntry) -> Option<&'a [u8]> {
    let start = usize::from(entry.start);
    buf.get(start..start + usize::from(entry.len))
}

/// The common case of [`validate`]: `Some` exactly when [`validate_slow`] accepts the
/// message (with the same definition), `None` on any problem, leaving the slow path
/// to name it. One table load per field ([`tag_info`]), no search.
///
/// Records the message's [`Shape`] in `shape` as it goes.
#[inline]
fn validate_fast(
    msg: &Message<'_>,
    version: FixVersion,
    shape: &mut Shape,
) -> Option<&'static MessageDef> {
    let buf = msg.as_bytes();
    // Decode put BeginString(8) first, BodyLength(9) second and CheckSum(10) last.
    let (_, body) = msg.entries().split_last()?;
    let msg_type = body.get(2)?;
    if msg_type.tag != 35 {
        return None;
    }
    let def = version.message(value_of(buf, msg_type)?)?;
    let mut seen = FieldSet::EMPTY;
    let mut in_body = false;
    let mut rest = body;
    while let [entry, tail @ ..] = rest {
        rest = tail;
        let info = tag_info(u32::from(entry.tag))?;
        let position = body.len() - rest.len() - 1;
        shape.push(position, entry.tag, info);
        let index = info.index();
        // 8, 9 and 35 are fields 0, 1 and 2: any later one is a duplicate.
        if !seen.insert_new(index) {
            return None;
        }
        if info.is_header() {
            if in_body {
                return None;
            }
        } else if def.allowed.word_of(index) >> (index & 63) & 1 != 0 {
            in_body = true;
        } else {
            return None;
        }
        if !value_fast(info, buf, entry) {
            return None;
        }
        if info.is_num_in_group() {
            let tag = u32::from(entry.tag);
            if let Some(group) = def.groups.iter().find(|g| g.count_tag == tag) {
                let declared = parse_u64(value_of(buf, entry)?)?;
                if !shape.push_group(position, declared) {
                    return None;
                }
                let start = body.len() - rest.len();
                rest = group_fast(group, declared, buf, rest)?;
                for (k, member) in body[start..body.len() - rest.len()].iter().enumerate() {
                    shape.push(start + k, member.tag, tag_info(u32::from(member.tag))?);
                }
            }
        }
    }
    if !HEADER_REQUIRED.is_subset(&seen) || !def.required.is_subset(&seen) {
        return None;
    }
    shape.version = Some(version);
    shape.def = Some(def);
    shape.len = body.len();
    Some(def)
}

/// The entries of `group` at the start of `rest` for [`validate_fast`]: what follows
/// them, or `None` on any problem.
#[inline]
fn group_fast<'e>(
    group: &GroupDef,
    declared: u64,
    buf: &[u8],
    mut rest: &'e [FieldEntry],
) -> Option<&'e [FieldEntry]> {
    let mut entries = 0u64;
    let mut entry_seen = FieldSet::EMPTY;
    while let [entry, tail @ ..] = rest {
        let tag = u32::from(entry.tag);
        let Some(info) = tag_info(tag) else {
            break;
        };
        let index = info.index();
        if group.members.word_of(index) >> (index & 63) & 1 == 0 {
            break;
        }
        if tag == group.delimiter {
            if entries > 0 && !group.required.is_subset(&entry_seen) {
                return None;
            }
            entries += 1;
            entry_seen = FieldSet::EMPTY;
            entry_seen.insert_index(index);
        } else if entries == 0 || !entry_seen.insert_new(index) {
            return None;
        }
        if !value_fast(info, buf, entry) {
            return None;
        }
        rest = tail;
    }
    if entries > 0 && !group.required.is_subset(&entry_seen) || entries != declared {
        return None;
    }
    Some(rest)
}

/// The reference validator: finds the first problem, in wire order.
#[cold]
#[inline(never)]
fn validate_slow(
    msg: &Message<'_>,
    version: FixVersion,
) -> Result<&'static MessageDef, SessionReject> {
    match msg.field(2) {
        Some((35, _)) => {}
        _ => return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, 35)),
    }
    let Some(def) = version.message(msg.msg_type()) else {
        return Err(SessionReject::new(R::InvalidMsgType, 35));
    };
    let mut seen = FieldSet::EMPTY;
    let mut in_body = false;
    let last = msg.len() - 1; // CheckSum, placed by decode
    let mut i = 0;
    while i < last {
        let Some((tag, value)) = msg.field(i) else {
            break;
        };
        let Some(index) = field_index(tag) else {
            return Err(SessionReject::new(R::InvalidTagNumber, tag));
        };
        let ty = VALUE_CHECKS[index].ty;
        if HEADER_FIELDS.contains_index(index) {
            if in_body || (i > 2 && matches!(tag, 8 | 9 | 35)) {
                return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, tag));
            }
        } else if def.allowed.contains_index(index) {
            in_body = true;
        } else if def.groups.iter().any(|g| g.members.contains_index(index)) {
            return Err(SessionReject::new(R::RepeatingGroupFieldsOutOfOrder, tag));
        } else if tag == 10 {
            return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, tag));
        } else {
            return Err(SessionReject::new(R::TagNotDefinedForMessageType, tag));
        }
        if seen.contains_index(index) {
            return Err(SessionReject::new(R::TagAppearsMoreThanOnce, tag));
        }
        seen.insert_index(index);
        check_indexed(index, value)?;
        i += 1;
        if ty == FieldType::NumInGroup {
            if let Some(group) = def.groups.iter().find(|g| g.count_tag == tag) {
                let declared = parse_u64(value).unwrap_or(0);
                let mut entries = 0u64;
                let mut entry_seen = FieldSet::EMPTY;
                while i < last {
                    let Some((member, member_value)) = msg.field(i) else {
                        break;
                    };
                    let Some(member_index) = field_index(member) else {
                        break;
                    };
                    if !group.members.contains_index(member_index) {
                        break;
                    }
                    if member == group.delimiter {
                        if entries > 0 {
                            if let Some(t) = group.required.first_missing_from(&entry_seen) {
                                return Err(SessionReject::new(R::RequiredTagMissing, t));
                            }
                        }
                        entries += 1;
                        entry_seen = FieldSet::EMPTY;
                    } else if entries == 0 || entry_seen.contains_index(member_index) {
                        return Err(SessionReject::new(
                            R::RepeatingGroupFieldsOutOfOrder,
                            member,
                        ));
                    }
                    entry_seen.insert_index(member_index);
                    check_indexed(member_index, member_value)?;
                    i += 1;
                }
                if entries > 0 {
                    if let Some(t) = group.required.first_missing_from(&entry_seen) {
                        return Err(SessionReject::new(R::RequiredTagMissing, t));
                    }
                }
                if entries != declared {
                    return Err(SessionReject::new(R::IncorrectNumInGroupCount, tag));
                }
            }
        }
    }
    if let Some(t) = HEADER_REQUIRED.first_missing_from(&seen) {
        return Err(SessionReject::new(R::RequiredTagMissing, t));
    }
    if let Some(t) = def.required.first_missing_from(&seen) {
        return Err(SessionReject::new(R::RequiredTagMissing, t));
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    use crate::dictionary::{FIELDS, FIELD_COUNT};
    use crate::frame::SOH;
    use proptest::prelude::*;

    /// The validator before the precomputed value checks, as the reference.
    fn validate_reference(
        msg: &Message<'_>,
        version: FixVersion,
    ) -> Result<&'static MessageDef, SessionReject> {
        match msg.field(2) {
            Some((35, _)) => {}
            _ => return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, 35)),
        }
        let Some(def) = version.message(msg.msg_type()) else {
            return Err(SessionReject::new(R::InvalidMsgType, 35));
        };
        let mut seen = FieldSet::EMPTY;
        let mut in_body = false;
        let last = msg.len() - 1; // CheckSum, placed by decode
        let mut i = 0;
        while i < last {
            let Some((tag, value)) = msg.field(i) else {
                break;
            };
            let Some(index) = field_index(tag) else {
                return Err(SessionReject::new(R::InvalidTagNumber, tag));
            };
            let field = &FIELDS[index];
            if HEADER_FIELDS.contains_index(index) {
                if in_body || (i > 2 && matches!(tag, 8 | 9 | 35)) {
                    return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, tag));
                }
            } else if def.allowed.contains_index(index) {
                in_body = true;
            } else if def.groups.iter().any(|g| g.members.contains_index(index)) {
                return Err(SessionReject::new(R::RepeatingGroupFieldsOutOfOrder, tag));
            } else if tag == 10 {
                return Err(SessionReject::new(R::TagSpecifiedOutOfRequiredOrder, tag));
            } else {
                return Err(SessionReject::new(R::TagNotDefinedForMessageType, tag));
            }
            if seen.contains_index(index) {
                return Err(SessionReject::new(R::TagAppearsMoreThanOnce, tag));
            }
            seen.insert_index(index);
            check_value(field, value)?;
            i += 1;
            if field.ty == FieldType::NumInGroup {
                if let Some(group) = def.groups.iter().find(|g| g.count_tag == tag) {
                    let declared = parse_u64(value).unwrap_or(0);
                    let mut entries = 0u64;
                    let mut entry_seen = FieldSet::EMPTY;
                    while i < last {
                        let Some((member, member_value)) = msg.field(i) else {
                            break;
                        };
                        let Some(member_index) = field_index(member) else {
                            break;
                        };
                        if !group.members.contains_index(member_index) {
                            break;
                        }
                        if member == group.delimiter {
                            if entries > 0 {
                                if let Some(t) = group.required.first_missing_from(&entry_seen) {
                                    return Err(SessionReject::new(R::RequiredTagMissing, t));
                                }
                            }
                            entries += 1;
                            entry_seen = FieldSet::EMPTY;
                        } else if entries == 0 || entry_seen.contains_index(member_index) {
                            return Err(SessionReject::new(
                                R::RepeatingGroupFieldsOutOfOrder,
                                member,
                            ));
                        }
                        entry_seen.insert_index(member_index);
                        check_value(&FIELDS[member_index], member_value)?;
                        i += 1;
                    }
                    if entries > 0 {
                        if let Some(t) = group.required.first_missing_from(&entry_seen) {
                            return Err(SessionReject::new(R::RequiredTagMissing, t));
                        }
                    }
                    if entries != declared {
                        return Err(SessionReject::new(R::IncorrectNumInGroupCount, tag));
                    }
                }
            }
        }
        if let Some(t) = HEADER_REQUIRED.first_missing_from(&seen) {
            return Err(SessionReject::new(R::RequiredTagMissing, t));
        }
        if let Some(t) = def.required.first_missing_from(&seen) {
            return Err(SessionReject::new(R::RequiredTagMissing, t));
        }
        Ok(def)
    }

    /// Values that exercise every type and enum: valid, invalid, empty, odd bytes.
    fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            "[0-9]{1,3}".prop_map(String::into_bytes),
            "-?[0-9]{0,20}(\\.[0-9]{0,4})?\\.?".prop_map(String::into_bytes),
            "[A-Za-z0-9 ]{1,4}".prop_map(String::into_bytes),
            "[YN]{1,2}".prop_map(String::into_bytes),
            "(19|20|21)[0-9]{2}[01][0-9][0-3][0-9](-[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{3,6})?)?"
                .prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>().prop_filter("no SOH", |b| *b != SOH), 1..6),
        ]
    }

    proptest! {
        #[test]
        fn indexed_check_matches_check_value(index in 0..FIELD_COUNT, value in value_strategy()) {
            let def = &FIELDS[index];
            prop_assert_eq!(check_indexed(index, &value), check_value(def, &value));
        }

        #[test]
        fn enum_values_match_check_value(index in 0..FIELD_COUNT, pick in any::<usize>(), other in any::<u8>()) {
            let def = &FIELDS[index];
            let mut values: Vec<Vec<u8>> = def.values.iter().map(|v| v.as_bytes().to_vec()).collect();
            values.push(vec![other]);
            values.push(vec![other, b'0']);
            let value = &values[pick % values.len()];
            prop_assert_eq!(check_indexed(index, value), check_value(def, value));
            let joined = values.join(&b' ');
            prop_assert_eq!(check_indexed(index, &joined), check_value(def, &joined));
        }

        #[test]
        fn validate_matches_reference(
            fields in proptest::collection::vec(
                (
                    prop_oneof![
                        (0..FIELD_COUNT).prop_map(|i| FIELDS[i].tag),
                        Just(448u32), Just(447), Just(452), Just(453), Just(702), Just(703),
                        1u32..2000,
                    ],
                    value_strategy(),
                ),
                0..24,
            ),
            msg_type in prop_oneof![
                Just("D"), Just("8"), Just("A"), Just("0"), Just("AP"), Just("F"), Just("ZZ")
            ],
            header in any::<bool>(),
        ) {
            let mut text = format!("8=FIX.4.4\x019=1\x0135={msg_type}\x01").into_bytes();
            if header {
                text.extend_from_slice(HDR[5..].replace('|', "\x01").as_bytes());
            }
            for (tag, value) in &fields {
                text.extend_from_slice(format!("{tag}=").as_bytes());
                text.extend_from_slice(value);
                text.push(SOH);
            }
            text.extend_from_slice(b"10=000\x01");
            let msg = decode(&text).unwrap();
            for version in [FixVersion::Fix44, FixVersion::Fixt11] {
                prop_assert_eq!(
                    validate(&msg, version).map(|d| d.name),
                    validate_reference(&msg, version).map(|d| d.name)
                );
            }
        }
    }

    /// The bench's NewOrderSingle body as (tag, value).
    const NOS_FIELDS: [(&str, &str); 20] = [
        ("49", "CLIENT"),
        ("56", "ARB"),
        ("34", "1234"),
        ("52", "20240229-12:34:56.789123"),
        ("11", "ORD-000001234"),
        ("1", "ACC1"),
        ("453", "2"),
        ("448", "TRADER1"),
        ("447", "D"),
        ("452", "11"),
        ("448", "FIRM"),
        ("447", "D"),
        ("452", "1"),
        ("55", "XYZ"),
        ("54", "1"),
        ("60", "20240229-12:34:56.789000"),
        ("38", "100"),
        ("40", "2"),
        ("44", "101.25"),
        ("59", "0"),
    ];

    fn nos_text(msg_type: &str, values: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut text = format!("8=FIX.4.4\x019=1\x0135={msg_type}\x01").into_bytes();
        for (i, (tag, value)) in NOS_FIELDS.iter().enumerate() {
            text.extend_from_slice(format!("{tag}=").as_bytes());
            match values.get(i) {
                Some(Some(v)) => text.extend_from_slice(v),
                _ => text.extend_from_slice(value.as_bytes()),
            }
            text.push(SOH);
        }
        text.extend_from_slice(b"10=000\x01");
        text
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Messages of the shape the last one validated had: the remembered shape
        /// must not change any verdict.
        #[test]
        fn same_shape_matches_reference(
            values in proptest::collection::vec(
                prop_oneof![
                    6 => Just(None),
                    1 => value_strategy().prop_map(Some),
                    1 => prop_oneof![Just(b"0".to_vec()), Just(b"1".to_vec()), Just(b"3".to_vec()), Just(b"02".to_vec())].prop_map(Some),
                ],
                NOS_FIELDS.len(),
            ),
            msg_type in prop_oneof![Just("D"), Just("G"), Just("F"), Just("A"), Just("8")],
            first_version in prop_oneof![Just(FixVersion::Fix44), Just(FixVersion::Fixt11)],
            version in prop_oneof![Just(FixVersion::Fix44), Just(FixVersion::Fixt11)],
        ) {
            let base = nos_text("D", &[]);
            let base = decode(&base).unwrap();
            prop_assert_eq!(validate(&base, first_version).map(|d| d.name), Ok("NewOrderSingle"));
            let text = nos_text(msg_type, &values);
            let msg = decode(&text).unwrap();
            for _ in 0..2 {
                prop_assert_eq!(
                    validate(&msg, version).map(|d| d.name),
                    validate_reference(&msg, version).map(|d| d.name)
                );
            }
        }
    }

    fn check(body: &str) -> Result<&'static str, SessionReject> {
        let text = format!("8=FIX.4.4|9=1|{body}10=000|").replace('|', "\x01");
        let msg = decode(text.as_bytes()).unwrap();
        validate(&msg, FixVersion::Fix44).map(|d| d.name)
    }

    const HDR: &str = "35=D|49=C|56=S|34=2|52=20240101-00:00:00|";
    const NOS: &str = "11=a|54=1|60=20240101-00:00:00|40=2|38=100|44=1.5|55=X|";

    fn nos(extra: &str) -> Result<&'static str, SessionReject> {
        check(&format!("{HDR}{NOS}{extra}"))
    }

    fn rej(reason: SessionRejectReason, tag: u32) -> Result<&'static str, SessionReject> {
        Err(SessionReject::new(reason, tag))
    }

    #[test]
    fn valid_new_order_single() {
        assert_eq!(nos(""), Ok("NewOrderSingle"));
        assert_eq!(nos("453=2|448=A|447=D|452=1|448=B|"), Ok("NewOrderSingle"));
        assert_eq!(nos("18=G 6|"), Ok("NewOrderSingle"));
    }

    #[test]
    fn reject_reasons() {
        assert_eq!(nos("9999=1|"), rej(R::InvalidTagNumber, 9999));
        assert_eq!(
            check("35=D|49=C|56=S|34=2|52=20240101-00:00:00|54=1|60=20240101-00:00:00|40=2|38=1|"),
            rej(R::RequiredTagMissing, 11)
        );
        assert_eq!(
            check(&format!("35=D|49=C|34=2|52=20240101-00:00:00|{NOS}")),
            rej(R::RequiredTagMissing, 56)
        );
        assert_eq!(nos("108=30|"), rej(R::TagNotDefinedForMessageType, 108));
        assert_eq!(nos("58=|"), rej(R::TagSpecifiedWithoutValue, 58));
        assert_eq!(nos("59=9|"), rej(R::ValueIsIncorrect, 59));
        assert_eq!(nos("18=G Z6|"), rej(R::ValueIsIncorrect, 18));
        assert_eq!(nos("110=abc|"), rej(R::IncorrectDataFormat, 110));
        assert_eq!(nos("126=2024|"), rej(R::IncorrectDataFormat, 126));
        assert_eq!(
            check(&format!("35=ZZ|49=C|56=S|34=2|52=20240101-00:00:00|{NOS}")),
            rej(R::InvalidMsgType, 35)
        );
        assert_eq!(nos("55=Y|"), rej(R::TagAppearsMoreThanOnce, 55));
        assert_eq!(nos("43=Y|"), rej(R::TagSpecifiedOutOfRequiredOrder, 43));
        assert_eq!(
            check(&format!("49=C|35=D|56=S|34=2|52=20240101-00:00:00|{NOS}")),
            rej(R::TagSpecifiedOutOfRequiredOrder, 35)
        );
        assert_eq!(
            nos("453=1|447=D|448=A|"),
            rej(R::RepeatingGroupFieldsOutOfOrder, 447)
        );
        assert_eq!(nos("448=A|"), rej(R::RepeatingGroupFieldsOutOfOrder, 448));
        assert_eq!(
            nos("453=2|448=A|447=D|"),
            rej(R::IncorrectNumInGroupCount, 453)
        );
        assert_eq!(
            nos("453=1|448=A|448=B|"),
            rej(R::IncorrectNumInGroupCount, 453)
        );
        assert_eq!(nos("453=1|448=A|452=x|"), rej(R::IncorrectDataFormat, 452));
    }

    #[test]
    fn logon_versions() {
        let logon = "35=A|49=C|56=S|34=1|52=20240101-00:00:00|98=0|108=30|";
        assert_eq!(check(logon), Ok("Logon"));
        let text = format!("8=FIXT.1.1|9=1|{logon}10=000|").replace('|', "\x01");
        let msg = decode(text.as_bytes()).unwrap();
        assert_eq!(
            validate(&msg, FixVersion::Fixt11).map(|d| d.name),
            Err(SessionReject::new(R::RequiredTagMissing, 1137))
        );
    }
}
