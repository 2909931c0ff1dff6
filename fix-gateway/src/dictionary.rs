//! Compile-time FIX dictionary for FIX.4.4 and FIXT.1.1 / FIX.5.0SP2.
//!
//! Every field we know gets a dense index (`0..FIELD_COUNT`) through a const lookup
//! table, so that message definitions are bitsets ([`FieldSet`]) and validation is a
//! handful of bit operations per field instead of string or slice searches.

/// Well-known tag numbers.
#[allow(missing_docs)]
pub mod tag {
    pub const ACCOUNT: u32 = 1;
    pub const AVG_PX: u32 = 6;
    pub const BEGIN_SEQ_NO: u32 = 7;
    pub const BEGIN_STRING: u32 = 8;
    pub const BODY_LENGTH: u32 = 9;
    pub const CHECK_SUM: u32 = 10;
    pub const CL_ORD_ID: u32 = 11;
    pub const CUM_QTY: u32 = 14;
    pub const CURRENCY: u32 = 15;
    pub const END_SEQ_NO: u32 = 16;
    pub const EXEC_ID: u32 = 17;
    pub const EXEC_INST: u32 = 18;
    pub const HANDL_INST: u32 = 21;
    pub const SECURITY_ID_SOURCE: u32 = 22;
    pub const LAST_PX: u32 = 31;
    pub const LAST_QTY: u32 = 32;
    pub const MSG_SEQ_NUM: u32 = 34;
    pub const MSG_TYPE: u32 = 35;
    pub const NEW_SEQ_NO: u32 = 36;
    pub const ORDER_ID: u32 = 37;
    pub const ORDER_QTY: u32 = 38;
    pub const ORD_STATUS: u32 = 39;
    pub const ORD_TYPE: u32 = 40;
    pub const ORIG_CL_ORD_ID: u32 = 41;
    pub const POSS_DUP_FLAG: u32 = 43;
    pub const PRICE: u32 = 44;
    pub const REF_SEQ_NUM: u32 = 45;
    pub const SECURITY_ID: u32 = 48;
    pub const SENDER_COMP_ID: u32 = 49;
    pub const SENDER_SUB_ID: u32 = 50;
    pub const SENDING_TIME: u32 = 52;
    pub const SIDE: u32 = 54;
    pub const SYMBOL: u32 = 55;
    pub const TARGET_COMP_ID: u32 = 56;
    pub const TARGET_SUB_ID: u32 = 57;
    pub const TEXT: u32 = 58;
    pub const TIME_IN_FORCE: u32 = 59;
    pub const TRANSACT_TIME: u32 = 60;
    pub const RPT_SEQ: u32 = 83;
    pub const POSS_RESEND: u32 = 97;
    pub const ENCRYPT_METHOD: u32 = 98;
    pub const STOP_PX: u32 = 99;
    pub const CXL_REJ_REASON: u32 = 102;
    pub const ORD_REJ_REASON: u32 = 103;
    pub const HEART_BT_INT: u32 = 108;
    pub const MIN_QTY: u32 = 110;
    pub const MAX_FLOOR: u32 = 111;
    pub const TEST_REQ_ID: u32 = 112;
    pub const ON_BEHALF_OF_COMP_ID: u32 = 115;
    pub const ORIG_SENDING_TIME: u32 = 122;
    pub const GAP_FILL_FLAG: u32 = 123;
    pub const EXPIRE_TIME: u32 = 126;
    pub const DELIVER_TO_COMP_ID: u32 = 128;
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    pub const SENDER_LOCATION_ID: u32 = 142;
    pub const TARGET_LOCATION_ID: u32 = 143;
    pub const NO_RELATED_SYM: u32 = 146;
    pub const EXEC_TYPE: u32 = 150;
    pub const LEAVES_QTY: u32 = 151;
    pub const SECURITY_EXCHANGE: u32 = 207;
    pub const MD_REQ_ID: u32 = 262;
    pub const SUBSCRIPTION_REQUEST_TYPE: u32 = 263;
    pub const MARKET_DEPTH: u32 = 264;
    pub const MD_UPDATE_TYPE: u32 = 265;
    pub const AGGREGATED_BOOK: u32 = 266;
    pub const NO_MD_ENTRY_TYPES: u32 = 267;
    pub const NO_MD_ENTRIES: u32 = 268;
    pub const MD_ENTRY_TYPE: u32 = 269;
    pub const MD_ENTRY_PX: u32 = 270;
    pub const MD_ENTRY_SIZE: u32 = 271;
    pub const MD_ENTRY_ID: u32 = 278;
    pub const MD_UPDATE_ACTION: u32 = 279;
    pub const MD_REQ_REJ_REASON: u32 = 281;
    pub const MD_ENTRY_POSITION_NO: u32 = 290;
    pub const SECURITY_REQ_ID: u32 = 320;
    pub const SECURITY_RESPONSE_ID: u32 = 322;
    pub const SECURITY_STATUS_REQ_ID: u32 = 324;
    pub const UNSOLICITED_INDICATOR: u32 = 325;
    pub const SECURITY_TRADING_STATUS: u32 = 326;
    pub const TRAD_SES_REQ_ID: u32 = 335;
    pub const TRADING_SESSION_ID: u32 = 336;
    pub const TRAD_SES_STATUS: u32 = 340;
    pub const NUMBER_OF_ORDERS: u32 = 346;
    pub const REF_TAG_ID: u32 = 371;
    pub const REF_MSG_TYPE: u32 = 372;
    pub const SESSION_REJECT_REASON: u32 = 373;
    pub const EXEC_RESTATEMENT_REASON: u32 = 378;
    pub const BUSINESS_REJECT_REF_ID: u32 = 379;
    pub const BUSINESS_REJECT_REASON: u32 = 380;
    pub const MAX_MESSAGE_SIZE: u32 = 383;
    pub const TOT_NO_RELATED_SYM: u32 = 393;
    pub const EXPIRE_DATE: u32 = 432;
    pub const CXL_REJ_RESPONSE_TO: u32 = 434;
    pub const PARTY_ID_SOURCE: u32 = 447;
    pub const PARTY_ID: u32 = 448;
    pub const PARTY_ROLE: u32 = 452;
    pub const NO_PARTY_IDS: u32 = 453;
    pub const TEST_MESSAGE_INDICATOR: u32 = 464;
    pub const SECONDARY_CL_ORD_ID: u32 = 526;
    pub const ORDER_CAPACITY: u32 = 528;
    pub const MASS_CANCEL_REQUEST_TYPE: u32 = 530;
    pub const MASS_CANCEL_RESPONSE: u32 = 531;
    pub const MASS_CANCEL_REJECT_REASON: u32 = 532;
    pub const TOTAL_AFFECTED_ORDERS: u32 = 533;
    pub const USERNAME: u32 = 553;
    pub const PASSWORD: u32 = 554;
    pub const SECURITY_LIST_REQUEST_TYPE: u32 = 559;
    pub const SECURITY_REQUEST_RESULT: u32 = 560;
    pub const ROUND_LOT: u32 = 561;
    pub const MIN_TRADE_VOL: u32 = 562;
    pub const ACCOUNT_TYPE: u32 = 581;
    pub const NO_POSITIONS: u32 = 702;
    pub const POS_TYPE: u32 = 703;
    pub const LONG_QTY: u32 = 704;
    pub const SHORT_QTY: u32 = 705;
    pub const POS_REQ_ID: u32 = 710;
    pub const CLEARING_BUSINESS_DATE: u32 = 715;
    pub const POS_MAINT_RPT_ID: u32 = 721;
    pub const POS_REQ_TYPE: u32 = 724;
    pub const TOTAL_NUM_POS_REPORTS: u32 = 727;
    pub const POS_REQ_RESULT: u32 = 728;
    pub const SETTL_PRICE: u32 = 730;
    pub const SETTL_PRICE_TYPE: u32 = 731;
    pub const PRIOR_SETTL_PRICE: u32 = 734;
    pub const NEXT_EXPECTED_MSG_SEQ_NUM: u32 = 789;
    pub const ORD_STATUS_REQ_ID: u32 = 790;
    pub const LAST_FRAGMENT: u32 = 893;
    /// NewPassword (925).
    pub const NEW_PASSWORD: u32 = 925;
    pub const MIN_PRICE_INCREMENT: u32 = 969;
    pub const MD_BOOK_TYPE: u32 = 1021;
    pub const APPL_VER_ID: u32 = 1128;
    pub const DEFAULT_APPL_VER_ID: u32 = 1137;
    pub const MD_STREAM_ID: u32 = 1500;
}

/// The FIX data type of a field, as far as validation cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Signed integer.
    Int,
    /// Positive integer sequence number.
    SeqNum,
    /// Non-negative byte count.
    Length,
    /// Non-negative count of repeating group entries.
    NumInGroup,
    /// Decimal number (Float, Qty, Price, Amt, PriceOffset).
    Decimal,
    /// One character.
    Char,
    /// `Y` or `N`.
    Boolean,
    /// Free text.
    String,
    /// Space separated single characters, each from the enum.
    MultipleCharValue,
    /// `YYYYMMDD-HH:MM:SS[.fff[fff[fff]]]`.
    UtcTimestamp,
    /// `YYYYMMDD`.
    Date,
}

/// Definition of one field.
#[derive(Debug)]
pub struct FieldDef {
    /// Tag number.
    pub tag: u32,
    /// FIX name.
    pub name: &'static str,
    /// Data type.
    pub ty: FieldType,
    /// Allowed values; empty means any value of the type.
    pub values: &'static [&'static str],
}

const fn f(tag: u32, name: &'static str, ty: FieldType) -> FieldDef {
    FieldDef {
        tag,
        name,
        ty,
        values: &[],
    }
}
const fn e(
    tag: u32,
    name: &'static str,
    ty: FieldType,
    values: &'static [&'static str],
) -> FieldDef {
    FieldDef {
        tag,
        name,
        ty,
        values,
    }
}

use FieldType as T;

/// The field list as a `const`, so that const fns can derive tables from it.
const FIELD_DEFS: [FieldDef; FIELD_COUNT] = [
    f(1, "Account", T::String),
    f(6, "AvgPx", T::Decimal),
    f(7, "BeginSeqNo", T::SeqNum),
    f(8, "BeginString", T::String),
    f(9, "BodyLength", T::Length),
    f(10, "CheckSum", T::String),
    f(11, "ClOrdID", T::String),
    f(14, "CumQty", T::Decimal),
    f(15, "Currency", T::String),
    f(16, "EndSeqNo", T::SeqNum),
    f(17, "ExecID", T::String),
    e(
        18,
        "ExecInst",
        T::MultipleCharValue,
        &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G",
            "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X",
            "Y", "Z", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
        ],
    ),
    e(21, "HandlInst", T::Char, &["1", "2", "3"]),
    f(22, "SecurityIDSource", T::String),
    f(31, "LastPx", T::Decimal),
    f(32, "LastQty", T::Decimal),
    f(34, "MsgSeqNum", T::SeqNum),
    f(35, "MsgType", T::String),
    f(36, "NewSeqNo", T::SeqNum),
    f(37, "OrderID", T::String),
    f(38, "OrderQty", T::Decimal),
    e(
        39,
        "OrdStatus",
        T::Char,
        &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E",
        ],
    ),
    e(
        40,
        "OrdType",
        T::Char,
        &[
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "D", "E", "G", "I", "J", "K", "L", "M",
            "P", "Q",
        ],
    ),
    f(41, "OrigClOrdID", T::String),
    f(43, "PossDupFlag", T::Boolean),
    f(44, "Price", T::Decimal),
    f(45, "RefSeqNum", T::SeqNum),
    f(48, "SecurityID", T::String),
    f(49, "SenderCompID", T::String),
    f(50, "SenderSubID", T::String),
    f(52, "SendingTime", T::UtcTimestamp),
    e(
        54,
        "Side",
        T::Char,
        &[
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G",
        ],
    ),
    f(55, "Symbol", T::String),
    f(56, "TargetCompID", T::String),
    f(57, "TargetSubID", T::String),
    f(58, "Text", T::String),
    e(
        59,
        "TimeInForce",
        T::Char,
        &["0", "1", "2", "3", "4", "5", "6", "7"],
    ),
    f(60, "TransactTime", T::UtcTimestamp),
    f(83, "RptSeq", T::Int),
    f(97, "PossResend", T::Boolean),
    e(
        98,
        "EncryptMethod",
        T::Int,
        &["0", "1", "2", "3", "4", "5", "6"],
    ),
    f(99, "StopPx", T::Decimal),
    e(
        102,
        "CxlRejReason",
        T::Int,
        &["0", "1", "2", "3", "4", "5", "6", "18", "99"],
    ),
    f(103, "OrdRejReason", T::Int),
    f(108, "HeartBtInt", T::Int),
    f(110, "MinQty", T::Decimal),
    f(111, "MaxFloor", T::Decimal),
    f(112, "TestReqID", T::String),
    f(115, "OnBehalfOfCompID", T::String),
    f(122, "OrigSendingTime", T::UtcTimestamp),
    f(123, "GapFillFlag", T::Boolean),
    f(126, "ExpireTime", T::UtcTimestamp),
    f(128, "DeliverToCompID", T::String),
    f(141, "ResetSeqNumFlag", T::Boolean),
    f(142, "SenderLocationID", T::String),
    f(143, "TargetLocationID", T::String),
    f(146, "NoRelatedSym", T::NumInGroup),
    e(
        150,
        "ExecType",
        T::Char,
        &[
            "0", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F", "G", "H", "I",
            "J", "K", "L",
        ],
    ),
    f(151, "LeavesQty", T::Decimal),
    f(207, "SecurityExchange", T::String),
    f(262, "MDReqID", T::String),
    e(263, "SubscriptionRequestType", T::Char, &["0", "1", "2"]),
    f(264, "MarketDepth", T::Int),
    e(265, "MDUpdateType", T::Int, &["0", "1"]),
    f(266, "AggregatedBook", T::Boolean),
    f(267, "NoMDEntryTypes", T::NumInGroup),
    f(268, "NoMDEntries", T::NumInGroup),
    f(269, "MDEntryType", T::Char),
    f(270, "MDEntryPx", T::Decimal),
    f(271, "MDEntrySize", T::Decimal),
    f(278, "MDEntryID", T::String),
    e(
        279,
        "MDUpdateAction",
        T::Char,
        &["0", "1", "2", "3", "4", "5"],
    ),
    e(
        281,
        "MDReqRejReason",
        T::Char,
        &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D",
        ],
    ),
    f(290, "MDEntryPositionNo", T::Int),
    f(320, "SecurityReqID", T::String),
    f(322, "SecurityResponseID", T::String),
    f(324, "SecurityStatusReqID", T::String),
    f(325, "UnsolicitedIndicator", T::Boolean),
    f(326, "SecurityTradingStatus", T::Int),
    f(335, "TradSesReqID", T::String),
    f(336, "TradingSessionID", T::String),
    e(
        340,
        "TradSesStatus",
        T::Int,
        &["0", "1", "2", "3", "4", "5", "6"],
    ),
    f(346, "NumberOfOrders", T::Int),
    f(371, "RefTagID", T::Int),
    f(372, "RefMsgType", T::String),
    f(373, "SessionRejectReason", T::Int),
    f(378, "ExecRestatementReason", T::Int),
    f(379, "BusinessRejectRefID", T::String),
    e(
        380,
        "BusinessRejectReason",
        T::Int,
        &["0", "1", "2", "3", "4", "5", "6", "7", "8", "18"],
    ),
    f(383, "MaxMessageSize", T::Length),
    f(393, "TotNoRelatedSym", T::Int),
    f(432, "ExpireDate", T::Date),
    e(434, "CxlRejResponseTo", T::Char, &["1", "2"]),
    f(447, "PartyIDSource", T::Char),
    f(448, "PartyID", T::String),
    f(452, "PartyRole", T::Int),
    f(453, "NoPartyIDs", T::NumInGroup),
    f(464, "TestMessageIndicator", T::Boolean),
    f(526, "SecondaryClOrdID", T::String),
    e(
        528,
        "OrderCapacity",
        T::Char,
        &["A", "G", "I", "P", "R", "W"],
    ),
    e(
        530,
        "MassCancelRequestType",
        T::Char,
        &["1", "2", "3", "4", "5", "6", "7"],
    ),
    e(
        531,
        "MassCancelResponse",
        T::Char,
        &["0", "1", "2", "3", "4", "5", "6", "7"],
    ),
    f(532, "MassCancelRejectReason", T::Int),
    f(533, "TotalAffectedOrders", T::Int),
    f(553, "Username", T::String),
    f(554, "Password", T::String),
    e(
        559,
        "SecurityListRequestType",
        T::Int,
        &["0", "1", "2", "3", "4", "5"],
    ),
    e(
        560,
        "SecurityRequestResult",
        T::Int,
        &["0", "1", "2", "3", "4", "5"],
    ),
    f(561, "RoundLot", T::Decimal),
    f(562, "MinTradeVol", T::Decimal),
    e(
        581,
        "AccountType",
        T::Int,
        &["1", "2", "3", "4", "6", "7", "8"],
    ),
    f(702, "NoPositions", T::NumInGroup),
    f(703, "PosType", T::String),
    f(704, "LongQty", T::Decimal),
    f(705, "ShortQty", T::Decimal),
    f(710, "PosReqID", T::String),
    f(715, "ClearingBusinessDate", T::Date),
    f(721, "PosMaintRptID", T::String),
    e(724, "PosReqType", T::Int, &["0", "1", "2", "3", "4", "5"]),
    f(727, "TotalNumPosReports", T::Int),
    e(
        728,
        "PosReqResult",
        T::Int,
        &["0", "1", "2", "3", "4", "99"],
    ),
    f(730, "SettlPrice", T::Decimal),
    e(731, "SettlPriceType", T::Int, &["1", "2"]),
    f(734, "PriorSettlPrice", T::Decimal),
    f(789, "NextExpectedMsgSeqNum", T::SeqNum),
    f(790, "OrdStatusReqID", T::String),
    f(893, "LastFragment", T::Boolean),
    f(925, "NewPassword", T::String),
    f(969, "MinPriceIncrement", T::Decimal),
    e(1021, "MDBookType", T::Int, &["1", "2", "3"]),
    f(1128, "ApplVerID", T::String),
    e(
        1137,
        "DefaultApplVerID",
        T::String,
        &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
    ),
    f(1500, "MDStreamID", T::String),
];

/// All fields of the dictionary. Order defines the dense field index.
pub static FIELDS: [FieldDef; FIELD_COUNT] = FIELD_DEFS;

/// How validation checks a value of one field, precomputed from [`FIELDS`] so that
/// enum membership is a bit test instead of a search through strings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValueCheck {
    /// The field's type.
    pub ty: FieldType,
    /// Bit `b` is set when the one-byte value `b` is in the enum.
    pub single: u128,
    /// The field has an enum (non-empty `values`).
    pub has_enum: bool,
    /// Some enum value is not exactly one byte long (`values` must be searched for
    /// values of other lengths).
    pub has_multi: bool,
}

/// [`ValueCheck`] per dense field index.
pub(crate) static VALUE_CHECKS: [ValueCheck; FIELD_COUNT] = build_value_checks();

const fn build_value_checks() -> [ValueCheck; FIELD_COUNT] {
    let mut checks = [ValueCheck {
        ty: FieldType::String,
        single: 0,
        has_enum: false,
        has_multi: false,
    }; FIELD_COUNT];
    let mut i = 0;
    while i < FIELD_COUNT {
        let def = &FIELD_DEFS[i];
        let mut single = 0u128;
        let mut has_multi = false;
        let mut j = 0;
        while j < def.values.len() {
            let value = def.values[j].as_bytes();
            if value.len() == 1 && value[0] < 128 {
                single |= 1 << value[0];
            } else {
                has_multi = true;
            }
            j += 1;
        }
        checks[i] = ValueCheck {
            ty: def.ty,
            single,
            has_enum: !def.values.is_empty(),
            has_multi,
        };
        i += 1;
    }
    checks
}

/// How the validator's fast path checks a value, one per [`TagInfo`].
pub(crate) mod kind {
    /// Any non-empty value (String without enum).
    pub const TEXT: u16 = 0;
    /// Exactly one byte.
    pub const CHAR: u16 = 1;
    /// One byte from the enum's one-byte values.
    pub const CHAR_ENUM: u16 = 2;
    /// Decimal.
    pub const DECIMAL: u16 = 3;
    /// Signed integer.
    pub const INT: u16 = 4;
    /// Unsigned integer (SeqNum, Length, NumInGroup).
    pub const UINT: u16 = 5;
    /// UTCTimestamp.
    pub const TIMESTAMP: u16 = 6;
    /// Anything else: the general check.
    pub const OTHER: u16 = 7;
}

/// Everything validation needs to know about a tag, from one table load: the dense
/// field index, the [`kind`] of value check and flags. Zero for unknown tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TagInfo(u16);

impl TagInfo {
    const KNOWN: u16 = 1 << 15;
    const HEADER: u16 = 1 << 14;
    const NUM_IN_GROUP: u16 = 1 << 13;
    const KIND_SHIFT: u32 = 8;

    /// Placeholder for no tag.
    pub(crate) const UNKNOWN: TagInfo = TagInfo(0);

    /// Dense field index.
    #[inline(always)]
    pub(crate) const fn index(self) -> usize {
        (self.0 & 0xff) as usize
    }

    /// The [`kind`] of value check.
    #[inline(always)]
    pub(crate) const fn kind(self) -> u16 {
        (self.0 >> Self::KIND_SHIFT) & 0x1f
    }

    /// A standard header field ([`HEADER_FIELDS`]).
    #[inline(always)]
    pub(crate) const fn is_header(self) -> bool {
        self.0 & Self::HEADER != 0
    }

    /// Of type NumInGroup.
    #[inline(always)]
    pub(crate) const fn is_num_in_group(self) -> bool {
        self.0 & Self::NUM_IN_GROUP != 0
    }
}

/// [`TagInfo`] of `tag`, `None` if it is not in the dictionary.
#[inline(always)]
pub(crate) fn tag_info(tag: u32) -> Option<TagInfo> {
    let info = *TAG_INFO.get(tag as usize)?;
    if info & TagInfo::KNOWN == 0 {
        None
    } else {
        Some(TagInfo(info))
    }
}

static TAG_INFO: [u16; TAG_TABLE_LEN] = build_tag_info();

const fn build_tag_info() -> [u16; TAG_TABLE_LEN] {
    let mut table = [0u16; TAG_TABLE_LEN];
    let checks = build_value_checks();
    let mut i = 0;
    while i < FIELD_COUNT {
        let check = &checks[i];
        let k = match check.ty {
            _ if check.has_enum => {
                if matches!(check.ty, FieldType::Char) && !check.has_multi {
                    kind::CHAR_ENUM
                } else {
                    kind::OTHER
                }
            }
            FieldType::String => kind::TEXT,
            FieldType::Char => kind::CHAR,
            FieldType::Decimal => kind::DECIMAL,
            FieldType::Int => kind::INT,
            FieldType::SeqNum | FieldType::Length | FieldType::NumInGroup => kind::UINT,
            FieldType::UtcTimestamp => kind::TIMESTAMP,
            FieldType::Boolean | FieldType::MultipleCharValue | FieldType::Date => kind::OTHER,
        };
        let mut info = TagInfo::KNOWN | (k << TagInfo::KIND_SHIFT) | i as u16;
        if HEADER_FIELDS.contains_index(i) {
            info |= TagInfo::HEADER;
        }
        if matches!(check.ty, FieldType::NumInGroup) {
            info |= TagInfo::NUM_IN_GROUP;
        }
        table[FIELD_TAGS[i] as usize] = info;
        i += 1;
    }
    table
}

/// Number of fields in [`FIELDS`].
pub const FIELD_COUNT: usize = 133;
const _: () = assert!(FIELD_COUNT <= 256, "FieldSet holds 256 fields");
// TagInfo keeps the dense index in 8 bits.
const _: () = assert!(FIELD_COUNT <= 255, "TagInfo holds 8-bit indexes");

/// Tags at or above this value are never in the dictionary.
pub const TAG_TABLE_LEN: usize = 1536;
const NO_INDEX: u8 = u8::MAX;

static TAG_INDEX: [u8; TAG_TABLE_LEN] = build_tag_index();

const fn build_tag_index() -> [u8; TAG_TABLE_LEN] {
    let mut table = [NO_INDEX; TAG_TABLE_LEN];
    let mut i = 0;
    while i < FIELD_COUNT {
        let tag = FIELD_TAGS[i] as usize;
        assert!(tag < TAG_TABLE_LEN);
        assert!(table[tag] == NO_INDEX, "duplicate field tag");
        assert!(i < NO_INDEX as usize);
        table[tag] = i as u8;
        if i > 0 {
            assert!(
                FIELD_TAGS[i - 1] < FIELD_TAGS[i],
                "FIELDS must be sorted by tag"
            );
        }
        i += 1;
    }
    table
}

// The tag list is duplicated in a const so that const fns can read it (statics with
// `&str` slices cannot be read in const context); a test checks both agree.
const FIELD_TAGS: [u32; FIELD_COUNT] = [
    1, 6, 7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 21, 22, 31, 32, 34, 35, 36, 37, 38, 39, 40, 41, 43,
    44, 45, 48, 49, 50, 52, 54, 55, 56, 57, 58, 59, 60, 83, 97, 98, 99, 102, 103, 108, 110, 111,
    112, 115, 122, 123, 126, 128, 141, 142, 143, 146, 150, 151, 207, 262, 263, 264, 265, 266, 267,
    268, 269, 270, 271, 278, 279, 281, 290, 320, 322, 324, 325, 326, 335, 336, 340, 346, 371, 372,
    373, 378, 379, 380, 383, 393, 432, 434, 447, 448, 452, 453, 464, 526, 528, 530, 531, 532, 533,
    553, 554, 559, 560, 561, 562, 581, 702, 703, 704, 705, 710, 715, 721, 724, 727, 728, 730, 731,
    734, 789, 790, 893, 925, 969, 1021, 1128, 1137, 1500,
];

/// Dense index of `tag`, or `None` if the tag is not in the dictionary.
#[inline]
#[must_use]
pub fn field_index(tag: u32) -> Option<usize> {
    let index = *TAG_INDEX.get(tag as usize)?;
    if index == NO_INDEX {
        None
    } else {
        Some(index as usize)
    }
}

/// Definition of `tag`, if known.
#[must_use]
pub fn field_def(tag: u32) -> Option<&'static FieldDef> {
    field_index(tag).map(|i| &FIELDS[i])
}

/// A set of dictionary fields, as a 256-bit bitset over the dense field index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSet([u64; 4]);

impl FieldSet {
    /// The empty set.
    pub const EMPTY: FieldSet = FieldSet([0; 4]);

    /// Builds a set from tags. Panics at compile time on an unknown tag.
    #[must_use]
    pub const fn from_tags(tags: &[u32]) -> FieldSet {
        let mut words = [0u64; 4];
        let mut i = 0;
        while i < tags.len() {
            let tag = tags[i] as usize;
            assert!(tag < TAG_TABLE_LEN, "tag not in dictionary");
            let index = TAG_INDEX_CONST[tag];
            assert!(index != NO_INDEX, "tag not in dictionary");
            words[index as usize / 64] |= 1 << (index as usize % 64);
            i += 1;
        }
        FieldSet(words)
    }

    /// Word `index / 64` of the set, holding the bit `1 << (index % 64)`.
    #[inline(always)]
    #[must_use]
    pub(crate) const fn word_of(&self, index: usize) -> u64 {
        self.0[(index >> 6) & 3]
    }

    /// Whether the set is a subset of `other`.
    #[inline(always)]
    #[must_use]
    pub(crate) const fn is_subset(&self, other: &FieldSet) -> bool {
        self.0[0] & !other.0[0] == 0
            && self.0[1] & !other.0[1] == 0
            && self.0[2] & !other.0[2] == 0
            && self.0[3] & !other.0[3] == 0
    }

    /// Adds dense index `index` if absent; false if it was already present.
    #[inline(always)]
    pub(crate) fn insert_new(&mut self, index: usize) -> bool {
        let word = &mut self.0[(index >> 6) & 3];
        let bit = 1u64 << (index & 63);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }

    /// Union of two sets.
    #[must_use]
    pub const fn union(self, other: FieldSet) -> FieldSet {
        FieldSet([
            self.0[0] | other.0[0],
            self.0[1] | other.0[1],
            self.0[2] | other.0[2],
            self.0[3] | other.0[3],
        ])
    }

    /// Whether dense index `index` is in the set.
    #[inline]
    #[must_use]
    pub const fn contains_index(&self, index: usize) -> bool {
        self.0[index / 64] & (1 << (index % 64)) != 0
    }

    /// Whether `tag` is in the set.
    #[inline]
    #[must_use]
    pub fn contains_tag(&self, tag: u32) -> bool {
        field_index(tag).is_some_and(|i| self.contains_index(i))
    }

    /// Adds dense index `index`.
    #[inline]
    pub fn insert_index(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }

    /// The lowest tag in `self` that is not in `other`.
    #[must_use]
    pub fn first_missing_from(&self, other: &FieldSet) -> Option<u32> {
        for word in 0..4 {
            let missing = self.0[word] & !other.0[word];
            if missing != 0 {
                let index = word * 64 + missing.trailing_zeros() as usize;
                return Some(FIELDS[index].tag);
            }
        }
        None
    }
}

const TAG_INDEX_CONST: [u8; TAG_TABLE_LEN] = build_tag_index();

/// A repeating group of a message.
#[derive(Debug)]
pub struct GroupDef {
    /// The NumInGroup tag that opens the group.
    pub count_tag: u32,
    /// The first field of every entry.
    pub delimiter: u32,
    /// All member fields, delimiter included.
    pub members: FieldSet,
    /// Fields required in every entry.
    pub required: FieldSet,
}

/// Parties (NoPartyIDs 453).
pub static PARTIES: GroupDef = GroupDef {
    count_tag: tag::NO_PARTY_IDS,
    delimiter: tag::PARTY_ID,
    members: FieldSet::from_tags(&[448, 447, 452]),
    required: FieldSet::from_tags(&[448]),
};

/// Positions (NoPositions 702).
pub static POSITIONS: GroupDef = GroupDef {
    count_tag: tag::NO_POSITIONS,
    delimiter: tag::POS_TYPE,
    members: FieldSet::from_tags(&[703, 704, 705]),
    required: FieldSet::from_tags(&[703]),
};

/// Whether a message belongs to the session layer or to the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Session-level (administrative) message.
    Admin,
    /// Application message.
    App,
}

/// Definition of one message type.
#[derive(Debug)]
pub struct MessageDef {
    /// MsgType(35) value.
    pub msg_type: &'static str,
    /// FIX name.
    pub name: &'static str,
    /// Admin or application.
    pub category: Category,
    /// Body fields allowed outside groups (group count tags included).
    pub allowed: FieldSet,
    /// Required body fields.
    pub required: FieldSet,
    /// Repeating groups.
    pub groups: &'static [&'static GroupDef],
}

const fn msg(
    msg_type: &'static str,
    name: &'static str,
    category: Category,
    required: &[u32],
    optional: &[u32],
    groups: &'static [&'static GroupDef],
) -> MessageDef {
    let required = FieldSet::from_tags(required);
    MessageDef {
        msg_type,
        name,
        category,
        allowed: required.union(FieldSet::from_tags(optional)),
        required,
        groups,
    }
}

/// Standard header fields.
pub const HEADER_FIELDS: FieldSet = FieldSet::from_tags(&[
    8, 9, 35, 49, 56, 34, 52, 43, 97, 122, 50, 57, 115, 128, 142, 143, 1128,
]);
/// Required standard header fields.
pub const HEADER_REQUIRED: FieldSet = FieldSet::from_tags(&[8, 9, 35, 49, 56, 34, 52]);

use Category::{Admin, App};

const PARTIES_ONLY: &[&GroupDef] = &[&PARTIES];

/// Heartbeat (0).
pub static HEARTBEAT: MessageDef = msg("0", "Heartbeat", Admin, &[], &[112], &[]);
/// TestRequest (1).
pub static TEST_REQUEST: MessageDef = msg("1", "TestRequest", Admin, &[112], &[], &[]);
/// ResendRequest (2).
pub static RESEND_REQUEST: MessageDef = msg("2", "ResendRequest", Admin, &[7, 16], &[], &[]);
/// Reject (3).
pub static REJECT: MessageDef = msg("3", "Reject", Admin, &[45], &[371, 372, 373, 58], &[]);
/// SequenceReset (4).
pub static SEQUENCE_RESET: MessageDef = msg("4", "SequenceReset", Admin, &[36], &[123], &[]);
/// Logout (5).
pub static LOGOUT: MessageDef = msg("5", "Logout", Admin, &[], &[58], &[]);
/// Logon (A) for FIX.4.4.
pub static LOGON_FIX44: MessageDef = msg(
    "A",
    "Logon",
    Admin,
    &[98, 108],
    &[141, 789, 553, 554, 925, 383, 464],
    &[],
);
/// Logon (A) for FIXT.1.1: DefaultApplVerID(1137) is required.
pub static LOGON_FIXT11: MessageDef = msg(
    "A",
    "Logon",
    Admin,
    &[98, 108, 1137],
    &[141, 789, 553, 554, 925, 383, 464],
    &[],
);
/// NewOrderSingle (D).
pub static NEW_ORDER_SINGLE: MessageDef = msg(
    "D",
    "NewOrderSingle",
    App,
    &[11, 54, 60, 40, 38],
    &[
        1, 453, 21, 18, 110, 111, 55, 48, 22, 207, 44, 99, 59, 126, 432, 58, 15, 528, 581,
    ],
    PARTIES_ONLY,
);
/// OrderCancelRequest (F).
pub static ORDER_CANCEL_REQUEST: MessageDef = msg(
    "F",
    "OrderCancelRequest",
    App,
    &[41, 11, 54, 60],
    &[37, 1, 453, 55, 48, 22, 207, 38, 58],
    PARTIES_ONLY,
);
/// OrderCancelReplaceRequest (G).
pub static ORDER_CANCEL_REPLACE_REQUEST: MessageDef = msg(
    "G",
    "OrderCancelReplaceRequest",
    App,
    &[41, 11, 54, 60, 40, 38],
    &[
        37, 1, 453, 21, 18, 110, 111, 55, 48, 22, 207, 44, 99, 59, 126, 432, 58, 15, 528, 581,
    ],
    PARTIES_ONLY,
);
/// OrderStatusRequest (H).
pub static ORDER_STATUS_REQUEST: MessageDef = msg(
    "H",
    "OrderStatusRequest",
    App,
    &[11, 54],
    &[37, 790, 1, 453, 55, 48, 22, 207],
    PARTIES_ONLY,
);
/// OrderMassCancelRequest (q).
pub static ORDER_MASS_CANCEL_REQUEST: MessageDef = msg(
    "q",
    "OrderMassCancelRequest",
    App,
    &[11, 530, 60],
    &[526, 55, 48, 22, 207, 54, 1, 453, 58],
    PARTIES_ONLY,
);
/// RequestForPositions (AN).
pub static REQUEST_FOR_POSITIONS: MessageDef = msg(
    "AN",
    "RequestForPositions",
    App,
    &[710, 724, 715, 60],
    &[1, 581, 453, 55, 48, 22, 263],
    PARTIES_ONLY,
);
/// ExecutionReport (8).
pub static EXECUTION_REPORT: MessageDef = msg(
    "8",
    "ExecutionReport",
    App,
    &[37, 17, 150, 39, 54, 151, 14],
    &[
        11, 41, 1, 453, 55, 48, 22, 207, 38, 40, 44, 99, 59, 18, 32, 31, 6, 60, 58, 103, 378, 126,
        432, 15, 528,
    ],
    PARTIES_ONLY,
);
/// OrderCancelReject (9).
pub static ORDER_CANCEL_REJECT: MessageDef = msg(
    "9",
    "OrderCancelReject",
    App,
    &[37, 11, 41, 39, 434],
    &[102, 1, 58, 60],
    &[],
);
/// OrderMassCancelReport (r).
pub static ORDER_MASS_CANCEL_REPORT: MessageDef = msg(
    "r",
    "OrderMassCancelReport",
    App,
    &[37, 530, 531],
    &[11, 526, 532, 533, 55, 54, 60, 58, 1, 453],
    PARTIES_ONLY,
);
/// PositionReport (AP).
pub static POSITION_REPORT: MessageDef = msg(
    "AP",
    "PositionReport",
    App,
    &[721, 728, 715],
    &[
        710, 724, 727, 1, 581, 453, 55, 48, 22, 730, 731, 734, 702, 60, 58, 263,
    ],
    &[&PARTIES, &POSITIONS],
);
/// BusinessMessageReject (j).
pub static BUSINESS_MESSAGE_REJECT: MessageDef = msg(
    "j",
    "BusinessMessageReject",
    App,
    &[372, 380],
    &[45, 379, 58],
    &[],
);

/// MDEntryTypes of a MarketDataRequest (NoMDEntryTypes 267).
pub static MD_ENTRY_TYPES: GroupDef = GroupDef {
    count_tag: tag::NO_MD_ENTRY_TYPES,
    delimiter: tag::MD_ENTRY_TYPE,
    members: FieldSet::from_tags(&[269]),
    required: FieldSet::from_tags(&[269]),
};

/// Instruments of a request (NoRelatedSym 146 with the Instrument block's identifiers).
pub static RELATED_SYM: GroupDef = GroupDef {
    count_tag: tag::NO_RELATED_SYM,
    delimiter: tag::SYMBOL,
    members: FieldSet::from_tags(&[55, 48, 22, 207]),
    required: FieldSet::from_tags(&[55]),
};

/// Entries of a MarketDataSnapshotFullRefresh (NoMDEntries 268). FIX.4.4 has no
/// MDEntryID (278) here, so an order-by-order snapshot names orders by OrderID (37);
/// FIX.5.0SP2 has MDEntryID.
pub static MD_FULL_ENTRIES: GroupDef = GroupDef {
    count_tag: tag::NO_MD_ENTRIES,
    delimiter: tag::MD_ENTRY_TYPE,
    members: FieldSet::from_tags(&[269, 278, 270, 15, 271, 37, 346, 290]),
    required: FieldSet::from_tags(&[269]),
};

/// Entries of a MarketDataIncrementalRefresh (NoMDEntries 268), each with its
/// instrument and RptSeq.
pub static MD_INC_ENTRIES: GroupDef = GroupDef {
    count_tag: tag::NO_MD_ENTRIES,
    delimiter: tag::MD_UPDATE_ACTION,
    members: FieldSet::from_tags(&[279, 269, 278, 55, 48, 22, 270, 15, 271, 346, 290, 83]),
    required: FieldSet::from_tags(&[279]),
};

/// Instruments of a SecurityList (NoRelatedSym 146) with their trading rules.
pub static SECURITY_LIST_SYM: GroupDef = GroupDef {
    count_tag: tag::NO_RELATED_SYM,
    delimiter: tag::SYMBOL,
    members: FieldSet::from_tags(&[55, 48, 22, 969, 15, 561, 562]),
    required: FieldSet::from_tags(&[55]),
};

/// MarketDataRequest (V).
pub static MARKET_DATA_REQUEST: MessageDef = msg(
    "V",
    "MarketDataRequest",
    App,
    &[262, 263, 264, 267, 146],
    &[265, 266, 1021],
    &[&MD_ENTRY_TYPES, &RELATED_SYM],
);
/// MarketDataSnapshotFullRefresh (W). RptSeq (83), MDBookType (1021) and MDStreamID
/// (1500) are FIX.5.0SP2 fields, optional.
pub static MARKET_DATA_SNAPSHOT_FULL_REFRESH: MessageDef = msg(
    "W",
    "MarketDataSnapshotFullRefresh",
    App,
    &[268],
    &[262, 55, 48, 22, 83, 1021, 1500],
    &[&MD_FULL_ENTRIES],
);
/// MarketDataIncrementalRefresh (X).
pub static MARKET_DATA_INCREMENTAL_REFRESH: MessageDef = msg(
    "X",
    "MarketDataIncrementalRefresh",
    App,
    &[268],
    &[262, 1021, 1500],
    &[&MD_INC_ENTRIES],
);
/// MarketDataRequestReject (Y).
pub static MARKET_DATA_REQUEST_REJECT: MessageDef =
    msg("Y", "MarketDataRequestReject", App, &[262], &[281, 58], &[]);
/// SecurityListRequest (x).
pub static SECURITY_LIST_REQUEST: MessageDef = msg(
    "x",
    "SecurityListRequest",
    App,
    &[320, 559],
    &[55, 48, 22, 207, 263, 336, 58],
    &[],
);
/// SecurityList (y). MinPriceIncrement (969) is a FIX.5.0SP2 Instrument field; FIX.4.4
/// clients need it in their dictionary (it is how they learn the tick size).
pub static SECURITY_LIST: MessageDef = msg(
    "y",
    "SecurityList",
    App,
    &[320, 322, 560],
    &[393, 893, 146, 58],
    &[&SECURITY_LIST_SYM],
);
/// SecurityStatusRequest (e).
pub static SECURITY_STATUS_REQUEST: MessageDef = msg(
    "e",
    "SecurityStatusRequest",
    App,
    &[324, 55, 263],
    &[48, 22, 207, 336],
    &[],
);
/// SecurityStatus (f).
pub static SECURITY_STATUS: MessageDef = msg(
    "f",
    "SecurityStatus",
    App,
    &[55],
    &[324, 48, 22, 325, 326, 336, 60, 58],
    &[],
);
/// TradingSessionStatusRequest (g).
pub static TRADING_SESSION_STATUS_REQUEST: MessageDef = msg(
    "g",
    "TradingSessionStatusRequest",
    App,
    &[335, 263],
    &[336],
    &[],
);
/// TradingSessionStatus (h).
pub static TRADING_SESSION_STATUS: MessageDef = msg(
    "h",
    "TradingSessionStatus",
    App,
    &[336, 340],
    &[335, 325, 58],
    &[],
);

/// The protocol version of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FixVersion {
    /// BeginString `FIX.4.4`.
    Fix44,
    /// BeginString `FIXT.1.1` with application version FIX.5.0SP2 (`1137=9`).
    Fixt11,
}

impl FixVersion {
    /// The BeginString(8) value.
    #[must_use]
    pub const fn begin_string(self) -> &'static [u8] {
        match self {
            FixVersion::Fix44 => b"FIX.4.4",
            FixVersion::Fixt11 => b"FIXT.1.1",
        }
    }

    /// Looks up a message definition by MsgType(35).
    #[must_use]
    pub fn message(self, msg_type: &[u8]) -> Option<&'static MessageDef> {
        Some(match msg_type {
            b"0" => &HEARTBEAT,
            b"1" => &TEST_REQUEST,
            b"2" => &RESEND_REQUEST,
            b"3" => &REJECT,
            b"4" => &SEQUENCE_RESET,
            b"5" => &LOGOUT,
            b"A" => match self {
                FixVersion::Fix44 => &LOGON_FIX44,
                FixVersion::Fixt11 => &LOGON_FIXT11,
            },
            b"D" => &NEW_ORDER_SINGLE,
            b"F" => &ORDER_CANCEL_REQUEST,
            b"G" => &ORDER_CANCEL_REPLACE_REQUEST,
            b"H" => &ORDER_STATUS_REQUEST,
            b"q" => &ORDER_MASS_CANCEL_REQUEST,
            b"AN" => &REQUEST_FOR_POSITIONS,
            b"8" => &EXECUTION_REPORT,
            b"9" => &ORDER_CANCEL_REJECT,
            b"r" => &ORDER_MASS_CANCEL_REPORT,
            b"AP" => &POSITION_REPORT,
            b"j" => &BUSINESS_MESSAGE_REJECT,
            b"V" => &MARKET_DATA_REQUEST,
            b"W" => &MARKET_DATA_SNAPSHOT_FULL_REFRESH,
            b"X" => &MARKET_DATA_INCREMENTAL_REFRESH,
            b"Y" => &MARKET_DATA_REQUEST_REJECT,
            b"x" => &SECURITY_LIST_REQUEST,
            b"y" => &SECURITY_LIST,
            b"e" => &SECURITY_STATUS_REQUEST,
            b"f" => &SECURITY_STATUS,
            b"g" => &TRADING_SESSION_STATUS_REQUEST,
            b"h" => &TRADING_SESSION_STATUS,
            _ => return None,
        })
    }
}

/// The `DefaultApplVerID(1137)` value for FIX.5.0SP2.
pub const APPL_VER_ID_FIX50SP2: &[u8] = b"9";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_tags_match_fields() {
        for (i, def) in FIELDS.iter().enumerate() {
            assert_eq!(def.tag, FIELD_TAGS[i]);
            assert_eq!(field_index(def.tag), Some(i));
        }
        assert_eq!(field_index(2), None);
        assert_eq!(field_index(99_999), None);
    }

    #[test]
    fn tag_info_matches_fields() {
        for tag in 0..TAG_TABLE_LEN as u32 + 10 {
            let info = tag_info(tag);
            assert_eq!(info.map(TagInfo::index), field_index(tag), "{tag}");
            if let Some(info) = info {
                let index = info.index();
                assert_eq!(info.is_header(), HEADER_FIELDS.contains_index(index));
                assert_eq!(
                    info.is_num_in_group(),
                    FIELDS[index].ty == FieldType::NumInGroup
                );
            }
        }
    }

    #[test]
    fn message_lookup() {
        let nos = FixVersion::Fix44.message(b"D").unwrap();
        assert!(nos.required.contains_tag(tag::CL_ORD_ID));
        assert!(nos.allowed.contains_tag(tag::NO_PARTY_IDS));
        assert!(!nos.allowed.contains_tag(tag::PARTY_ID));
        assert!(FixVersion::Fixt11
            .message(b"A")
            .unwrap()
            .required
            .contains_tag(tag::DEFAULT_APPL_VER_ID));
        assert!(!FixVersion::Fix44
            .message(b"A")
            .unwrap()
            .allowed
            .contains_tag(tag::DEFAULT_APPL_VER_ID));
        assert!(FixVersion::Fix44.message(b"ZZ").is_none());
    }

    #[test]
    fn first_missing() {
        let required = FieldSet::from_tags(&[11, 54]);
        let seen = FieldSet::from_tags(&[11]);
        assert_eq!(required.first_missing_from(&seen), Some(54));
        assert_eq!(required.first_missing_from(&required), None);
    }
}
