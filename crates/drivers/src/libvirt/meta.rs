//! hearth's record in a domain's libvirt metadata: one element, `<hearth …/>`, in the
//! [`HEARTH_NS`] namespace, whose attributes say whether the instance is pinned and how far the
//! last cold move that touched it got. libvirt keeps it in the domain's persistent XML, so it
//! travels with the XML a cold move copies and survives a hearth restart; that is what lets a
//! fresh driver resume a move (module docs of [`super`]).
//!
//! The element is flat on purpose (attributes only), so reading it back needs no XML library:
//! [`Record::parse`] reads the attributes of the first tag and ignores any it does not know
//! (an `xmlns`, attributes a later hearth adds). Values are escaped both ways.

use std::fmt::Write as _;

/// The metadata namespace hearth's element lives in (`virsh metadata --uri`).
pub const HEARTH_NS: &str = "https://hearth.invalid/xmlns/libvirt/1";

/// The element's prefix (`virsh metadata --key`).
pub const HEARTH_KEY: &str = "hearth";

/// How far a cold move recorded in a domain's metadata got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Under way: the source is stopping or stopped, the target may hold a copy.
    Moving,
    /// Ended: the instance is on the target (kept on the target's domain).
    Done,
    /// Ended: rolled back, the instance is on the source (kept on the source's domain).
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Moving => "moving",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Phase> {
        match text {
            "moving" => Some(Phase::Moving),
            "done" => Some(Phase::Done),
            "failed" => Some(Phase::Failed),
            _ => None,
        }
    }
}

/// The cold move a domain's metadata records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MoveMark {
    /// The caller's operation ID.
    pub op_id: String,
    /// How far it got.
    pub phase: Phase,
    /// The source host's ID.
    pub from: String,
    /// The target host's ID.
    pub to: String,
    /// Whether the instance was running when the move began (so it is started on the target).
    pub running: bool,
    /// Why it failed, for `Failed`.
    pub reason: Option<String>,
}

/// hearth's metadata element on one domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    /// Set by an operator (`pinned="yes"`): the instance is never moved.
    pub pinned: bool,
    /// The last cold move that touched the domain, if any.
    pub mark: Option<MoveMark>,
}

impl Record {
    /// Reads the element libvirt returns for [`HEARTH_NS`]. Unknown attributes are ignored; a
    /// move mark missing a field is dropped (as if there were none), never a panic.
    pub fn parse(xml: &str) -> Record {
        let attrs = attributes(xml);
        let get = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let pinned = get("pinned").is_some_and(|v| matches!(v.as_str(), "yes" | "true" | "1"));
        let mark = (|| {
            Some(MoveMark {
                op_id: get("op")?,
                phase: Phase::parse(&get("phase")?)?,
                from: get("from")?,
                to: get("to")?,
                running: get("running")? == "yes",
                reason: get("reason"),
            })
        })();
        Record { pinned, mark }
    }

    /// The element to store with `virDomainSetMetadata`.
    pub fn to_xml(&self) -> String {
        let mut xml = String::from("<hearth");
        if self.pinned {
            xml.push_str(" pinned=\"yes\"");
        }
        if let Some(mark) = &self.mark {
            let running = if mark.running { "yes" } else { "no" };
            for (name, value) in [
                ("op", mark.op_id.as_str()),
                ("phase", mark.phase.as_str()),
                ("from", mark.from.as_str()),
                ("to", mark.to.as_str()),
                ("running", running),
            ] {
                let _ = write!(xml, " {name}=\"{}\"", escape(value));
            }
            if let Some(reason) = &mark.reason {
                let _ = write!(xml, " reason=\"{}\"", escape(reason));
            }
        }
        xml.push_str("/>");
        xml
    }
}

/// The attributes of the first element in `xml`, unescaped, in order.
fn attributes(xml: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Some(start) = xml.find('<') else { return found };
    let mut rest = &xml[start + 1..];
    // Skip the tag name.
    let name_end = rest.find(|c: char| c.is_whitespace() || c == '/' || c == '>');
    rest = &rest[name_end.unwrap_or(rest.len())..];
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('>') {
            return found;
        }
        let Some(eq) = rest.find('=') else { return found };
        let name = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            return found;
        };
        rest = &rest[1..];
        let Some(end) = rest.find(quote) else { return found };
        found.push((name, unescape(&rest[..end])));
        rest = &rest[end + 1..];
    }
}

/// Escapes an attribute value (quotes, markup, and whitespace XML would normalize).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\r' | '\t' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            // Other control characters are not allowed in XML 1.0 at all.
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`] and the entities libvirt's serializer writes; an unknown entity is kept.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(op_id: &str, phase: Phase) -> MoveMark {
        MoveMark {
            op_id: op_id.into(),
            phase,
            from: "h1".into(),
            to: "h2".into(),
            running: true,
            reason: None,
        }
    }

    #[test]
    fn a_record_round_trips_with_awkward_values() {
        let record = Record {
            pinned: true,
            mark: Some(MoveMark {
                reason: Some("define on h2 failed: <xml> \"bad\" & 'worse'\n\tline 2".into()),
                ..mark("op <1> & \"2\"", Phase::Failed)
            }),
        };
        let xml = record.to_xml();
        assert!(!xml.contains('\n'), "{xml}");
        assert_eq!(Record::parse(&xml), record);
    }

    #[test]
    fn libvirt_serialization_is_read() {
        // As `virDomainGetMetadata` and `virsh dumpxml` give it back (prefix, xmlns, quotes).
        let xml = "<hearth:hearth xmlns:hearth='https://hearth.invalid/xmlns/libvirt/1' \
                   op='m&#39;1' phase='done' from='a' to='b' running='no' future='x'/>";
        let record = Record::parse(xml);
        assert!(!record.pinned);
        let expected = MoveMark {
            op_id: "m'1".into(),
            from: "a".into(),
            to: "b".into(),
            running: false,
            ..mark("", Phase::Done)
        };
        assert_eq!(record.mark, Some(expected));
        assert!(Record::parse("<hearth pinned=\"true\"/>").pinned);
    }

    #[test]
    fn broken_or_partial_records_never_panic() {
        for xml in [
            "",
            "<",
            "<hearth",
            "<hearth op=",
            "<hearth op=\"x",
            "<hearth op=x/>",
            "&#xZZ;",
            "<h a='&#1114112;'/>",
            "<hearth op='x' phase='moving'/>",
            "<hearth op='x' phase='??' from='a' to='b' running='yes'/>",
        ] {
            let record = Record::parse(xml);
            assert_eq!(record.mark, None, "{xml:?}");
        }
        assert_eq!(unescape("a &bogus; b &"), "a &bogus; b &");
    }
}
