//! Flow and aggregate statistics: requests and replies in every protocol.

use super::*;

/// A flow or aggregate statistics request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// The table ([`TableId::ALL`] for every table).
    pub table: TableId,
    /// Only rules that output to this port ([`OfPort::NONE`]: any).
    pub out_port: OfPort,
    /// Only rules whose cookie matches this under `cookie_mask`.
    pub cookie: Cookie,
    /// Bits of `cookie` to compare (0: any cookie).
    pub cookie_mask: u64,
    /// Only rules that this match covers.
    pub match_: OfMatch,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table: TableId::ALL,
            out_port: OfPort::NONE,
            cookie: Cookie(0),
            cookie_mask: 0,
            match_: OfMatch::catchall(),
        }
    }
}

/// Encodes a flow (or, with `aggregate`, an aggregate) statistics request:
/// `OFPST_FLOW`/`OFPMP_FLOW`, `OFPST_AGGREGATE`/`OFPMP_AGGREGATE`, or
/// `NXST_FLOW`/`NXST_AGGREGATE` on OpenFlow 1.0 with NXM. OpenFlow 1.0's
/// standard request has no cookie.
pub fn encode_flow_stats_request(
    req: &FlowStatsRequest,
    aggregate: bool,
    proto: Protocol,
    xid: u32,
) -> Vec<u8> {
    let v = proto.version;
    if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        let sub = if aggregate { nxt::STATS_AGGREGATE } else { nxt::STATS_FLOW };
        let mut b = start_msg(v, MsgType::VendorMultipartRequest(NX_VENDOR_ID, sub), xid)
            .unwrap_or_default();
        b.extend_from_slice(&req.out_port.0.to_be_bytes());
        let at = b.len();
        b.extend_from_slice(&[0, 0]);
        b.push(req.table.0);
        b.extend_from_slice(&[0; 3]);
        let n = put_nx_match(&req.match_, req.cookie.0, req.cookie_mask, &mut b);
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        return finish_msg(b);
    }
    let mp = if aggregate { MpType::Aggregate } else { MpType::Flow };
    let mut b = start_msg(v, MsgType::MultipartRequest(mp), xid).unwrap_or_default();
    if v == Version::V10 {
        b.extend_from_slice(&encode_ofp10_match(&req.match_));
        b.push(req.table.0);
        b.push(0);
        b.extend_from_slice(&req.out_port.0.to_be_bytes());
    } else {
        b.push(req.table.0);
        b.extend_from_slice(&[0; 3]);
        b.extend_from_slice(&port_to_ofp11(req.out_port).to_be_bytes());
        b.extend_from_slice(&OFPG_ANY.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&req.cookie.0.to_be_bytes());
        b.extend_from_slice(&req.cookie_mask.to_be_bytes());
        encode_ofp_match(&req.match_, v, &mut b);
    }
    finish_msg(b)
}

/// Decodes a flow or aggregate statistics request; the flag is true for
/// aggregate.
pub fn decode_flow_stats_request(msg: &RawMsg<'_>) -> Result<(FlowStatsRequest, bool), OfpError> {
    let v = msg.version;
    let mut r = Reader::new(msg.body);
    let mut req = FlowStatsRequest::default();
    let short = |need: usize, have: usize| {
        OfpErr::BadRequestBadLen
            .with(format!("flow stats request body of {have} bytes, need {need}"))
    };
    let aggregate = match msg.ty {
        MsgType::VendorMultipartRequest(NX_VENDOR_ID, sub)
            if sub == nxt::STATS_FLOW || sub == nxt::STATS_AGGREGATE =>
        {
            if r.remaining() < 8 {
                return Err(short(8, r.remaining()));
            }
            req.out_port = OfPort(r.u16()?);
            let match_len = usize::from(r.u16()?);
            req.table = TableId(r.u8()?);
            r.skip(3)?;
            let (m, c, cm) = pull_nx_match(&mut r, match_len)?;
            req.match_ = m;
            req.cookie = Cookie(c);
            req.cookie_mask = cm;
            sub == nxt::STATS_AGGREGATE
        }
        MsgType::MultipartRequest(mp @ (MpType::Flow | MpType::Aggregate)) => {
            if v == Version::V10 {
                if r.remaining() < 44 {
                    return Err(short(44, r.remaining()));
                }
                req.match_ = decode_ofp10_match(r.bytes(MATCH10_LEN)?)?;
                req.table = TableId(r.u8()?);
                r.skip(1)?;
                req.out_port = OfPort(r.u16()?);
            } else {
                if r.remaining() < 32 {
                    return Err(short(32, r.remaining()));
                }
                req.table = TableId(r.u8()?);
                r.skip(3)?;
                let p = r.u32()?;
                req.out_port = port_from_ofp11(p).ok_or_else(|| {
                    OfpErr::BadRequestBadPort.with(format!("out_port {p:#x} is not a valid port"))
                })?;
                let _out_group = r.u32()?;
                r.skip(4)?;
                let c = r.u64()?;
                req.cookie_mask = r.u64()?;
                req.cookie = Cookie(c & req.cookie_mask);
                req.match_ = decode_ofp_match(&mut r, v)?;
            }
            mp == MpType::Aggregate
        }
        other => {
            return Err(OfpErr::BadRequestBadType
                .with(format!("{other:?} is not a flow or aggregate stats request")))
        }
    };
    Ok((req, aggregate))
}

/// Seconds plus one, as NXST_FLOW's ages carry them (0: unknown).
fn age_to_wire(a: Option<Duration>) -> u16 {
    a.map_or(0, |d| u16::try_from(d.as_secs().saturating_add(1)).unwrap_or(u16::MAX))
}

fn age_from_wire(a: u16) -> Option<Duration> {
    (a != 0).then(|| Duration::from_secs(u64::from(a - 1)))
}

/// One flow_stats entry of `proto`'s reply.
fn encode_entry(l: &FlowStatsLine, proto: Protocol) -> Vec<u8> {
    let v = proto.version;
    if v >= Version::V15 {
        let mut b = vec![0, 0, 0, 0, l.table.0, 0];
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        b.extend_from_slice(&flags_to_wire(&l.flags, v).to_be_bytes());
        b.extend_from_slice(&l.importance.to_be_bytes());
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        encode_ofp_match(&l.match_, v, &mut b);
        let st = Oxs {
            duration: Some(l.duration),
            idle: l.idle_age,
            packets: Some(l.n_packets),
            bytes: Some(l.n_bytes),
            ..Oxs::default()
        };
        put_oxs(&mut b, &st);
        encode_instructions_for(&l.actions, v, Some(&l.match_), &mut b);
        let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
        b[0..2].copy_from_slice(&len.to_be_bytes());
        return b;
    }
    let mut b = vec![0, 0, l.table.0, 0];
    if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        let at = b.len();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&age_to_wire(l.idle_age).to_be_bytes());
        b.extend_from_slice(&age_to_wire(l.hard_age).to_be_bytes());
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        let n = put_nx_match(&l.match_, 0, 0, &mut b);
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        encode_actions_for(&l.actions, v, Some(&l.match_), &mut b);
    } else if v == Version::V10 {
        b.extend_from_slice(&encode_ofp10_match(&l.match_));
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        encode_actions_for(&l.actions, v, Some(&l.match_), &mut b);
    } else {
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        let flags = if v >= Version::V13 { flags_to_wire(&l.flags, v) } else { 0 };
        b.extend_from_slice(&flags.to_be_bytes());
        let imp = if v >= Version::V14 { l.importance } else { 0 };
        b.extend_from_slice(&imp.to_be_bytes());
        b.extend_from_slice(&[0; 2]);
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        encode_ofp_match(&l.match_, v, &mut b);
        encode_instructions_for(&l.actions, v, Some(&l.match_), &mut b);
    }
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    b[0..2].copy_from_slice(&len.to_be_bytes());
    b
}

/// Encodes a flow statistics reply as one or more messages, each under
/// 64 KiB, with the "more" flag on all but the last: `OFPST_FLOW`/
/// `OFPMP_FLOW`, or `NXST_FLOW` (whose entries carry idle and hard ages) on
/// OpenFlow 1.0 with NXM.
pub fn encode_flow_stats_reply(
    entries: &[FlowStatsLine],
    proto: Protocol,
    xid: u32,
) -> Vec<Vec<u8>> {
    let v = proto.version;
    let ty = if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_FLOW)
    } else {
        MsgType::MultipartReply(MpType::Flow)
    };
    let head_len = start_msg(v, ty, xid).map_or(0, |b| b.len());
    let mut parts: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut size = head_len;
    for e in entries {
        let b = encode_entry(e, proto);
        if size + b.len() > MAX_MSG && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            size = head_len;
        }
        size += b.len();
        if let Some(p) = parts.last_mut() {
            p.push(b);
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let flags = if i + 1 < n { MP_MORE } else { 0 };
            let mut b = start_msg_flags(v, ty, xid, flags).unwrap_or_default();
            for e in p {
                b.extend_from_slice(&e);
            }
            finish_msg(b)
        })
        .collect()
}

/// Decodes the entries of one flow statistics reply message (standard or
/// `NXST_FLOW`).
pub fn decode_flow_stats_reply(msg: &RawMsg<'_>) -> Result<Vec<FlowStatsLine>, OfpError> {
    let v = msg.version;
    let nxm = match msg.ty {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_FLOW) => true,
        MsgType::MultipartReply(MpType::Flow) => false,
        other => {
            return Err(
                OfpErr::BadRequestBadType.with(format!("{other:?} is not a flow stats reply"))
            )
        }
    };
    let mut out = Vec::new();
    let mut r = Reader::new(msg.body);
    while !r.is_empty() {
        if r.remaining() < 4 {
            return Err(OfpErr::BadRequestBadLen
                .with(format!("{} bytes left: too short for a flow stats entry", r.remaining())));
        }
        let len = usize::from(u16::from_be_bytes([r.peek_rest()[0], r.peek_rest()[1]]));
        let min = if v >= Version::V15 && !nxm {
            24
        } else if nxm || v != Version::V10 {
            48
        } else {
            88
        };
        if len < min || len > r.remaining() {
            return Err(OfpErr::BadRequestBadLen.with(format!(
                "flow stats entry of length {len} ({} bytes left, at least {min} needed)",
                r.remaining()
            )));
        }
        let mut e = Reader::new(r.bytes(len)?);
        if v >= Version::V15 && !nxm {
            e.skip(4)?;
            let mut l = FlowStatsLine { table: TableId(e.u8()?), ..FlowStatsLine::default() };
            e.skip(1)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            l.flags = flags_from_wire(e.u16()? & flags_known(v), v)?;
            l.importance = e.u16()?;
            l.cookie = Cookie(e.u64()?);
            l.match_ = decode_ofp_match(&mut e, v)?;
            let st = pull_oxs(&mut e)?;
            l.duration = st.duration.unwrap_or_default();
            l.idle_age = st.idle;
            l.n_packets = st.packets.unwrap_or(0);
            l.n_bytes = st.bytes.unwrap_or(0);
            l.actions = decode_instructions(e.rest(), v)?;
            out.push(l);
            continue;
        }
        e.skip(2)?;
        let mut l = FlowStatsLine { table: TableId(e.u8()?), ..FlowStatsLine::default() };
        e.skip(1)?;
        if nxm {
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            let match_len = usize::from(e.u16()?);
            l.idle_age = age_from_wire(e.u16()?);
            l.hard_age = age_from_wire(e.u16()?);
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.match_ = pull_nx_match(&mut e, match_len)?.0;
            l.actions = decode_actions(e.rest(), v)?;
        } else if v == Version::V10 {
            l.match_ = decode_ofp10_match(e.bytes(MATCH10_LEN)?)?;
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            e.skip(6)?;
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.actions = decode_actions(e.rest(), v)?;
        } else {
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            let flags = e.u16()?;
            if v >= Version::V13 {
                l.flags = flags_from_wire(flags & flags_known(v), v)?;
            }
            let imp = e.u16()?;
            if v >= Version::V14 {
                l.importance = imp;
            }
            e.skip(2)?;
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.match_ = decode_ofp_match(&mut e, v)?;
            l.actions = decode_instructions(e.rest(), v)?;
        }
        out.push(l);
    }
    Ok(out)
}

/// The body of an aggregate statistics reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggregateStats {
    /// Packets of every selected rule.
    pub packets: u64,
    /// Bytes of every selected rule.
    pub bytes: u64,
    /// Number of selected rules.
    pub flows: u32,
}

/// Encodes an aggregate statistics reply: `OFPST_AGGREGATE`/
/// `OFPMP_AGGREGATE`, or `NXST_AGGREGATE` on OpenFlow 1.0 with NXM.
pub fn encode_aggregate_reply(s: &AggregateStats, proto: Protocol, xid: u32) -> Vec<u8> {
    let v = proto.version;
    let ty = if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_AGGREGATE)
    } else {
        MsgType::MultipartReply(MpType::Aggregate)
    };
    let mut b = start_msg(v, ty, xid).unwrap_or_default();
    if v >= Version::V15 {
        let st = Oxs {
            flows: Some(s.flows),
            packets: Some(s.packets),
            bytes: Some(s.bytes),
            ..Oxs::default()
        };
        put_oxs(&mut b, &st);
        return finish_msg(b);
    }
    b.extend_from_slice(&s.packets.to_be_bytes());
    b.extend_from_slice(&s.bytes.to_be_bytes());
    b.extend_from_slice(&s.flows.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    finish_msg(b)
}

/// Decodes an aggregate statistics reply (standard or `NXST_AGGREGATE`).
pub fn decode_aggregate_reply(msg: &RawMsg<'_>) -> Result<AggregateStats, OfpError> {
    match msg.ty {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_AGGREGATE)
        | MsgType::MultipartReply(MpType::Aggregate) => {}
        other => {
            return Err(OfpErr::BadRequestBadType
                .with(format!("{other:?} is not an aggregate stats reply")))
        }
    }
    let mut r = Reader::new(msg.body);
    if msg.version >= Version::V15 && matches!(msg.ty, MsgType::MultipartReply(_)) {
        let st = pull_oxs(&mut r)?;
        return Ok(AggregateStats {
            packets: st.packets.unwrap_or(0),
            bytes: st.bytes.unwrap_or(0),
            flows: st.flows.unwrap_or(0),
        });
    }
    if r.remaining() != 24 {
        return Err(OfpErr::BadRequestBadLen
            .with(format!("aggregate stats reply body of {} bytes, need 24", r.remaining())));
    }
    Ok(AggregateStats { packets: r.u64()?, bytes: r.u64()?, flows: r.u32()? })
}
