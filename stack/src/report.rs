//! Reports: each module describes its own state as JSON text (RFC 8259), and a page such as
//! `/stats` only assembles them.
//!
//! A report is a method `report(&self, .., w: &mut Writer)` on the type it describes, next to
//! that type: it writes one JSON value (an object, an array or `null`), or, where its doc says
//! so, members into the object the caller is writing ([`crate::Stats::report`]). It uses only
//! what its own module knows, so no page has to reach into another module's internals.
//!
//! [`Writer`] produces compact JSON: no whitespace, commas placed for the caller, strings
//! escaped as RFC 8259 7 requires (`"` and `\` escaped, control characters as `\n`, `\r`, `\t`
//! or `\u00XX`, everything else as is). Numbers are written in decimal.

use core::fmt::{self, Write as _};

/// An integer a report can write as a JSON number.
pub trait Integer: fmt::Display + Copy + private::Sealed {}

mod private {
    pub trait Sealed {}
}

macro_rules! integers {
    ($($t:ty),*) => {
        $(impl private::Sealed for $t {}
        impl Integer for $t {})*
    };
}

integers!(u8, u16, u32, u64, u128, usize);

/// Appends JSON to a `String`, putting the commas between members and elements.
#[derive(Debug)]
pub struct Writer<'a> {
    out: &'a mut String,
    /// A value was just completed: the next member or element needs a comma first.
    comma: bool,
}

impl<'a> Writer<'a> {
    /// A writer appending to `out`.
    pub fn new(out: &'a mut String) -> Self {
        Writer { out, comma: false }
    }

    fn separate(&mut self) {
        if self.comma {
            self.out.push(',');
        }
    }

    /// Starts the member `name` of the object being written; the value comes next.
    pub fn key(&mut self, name: &str) -> &mut Self {
        self.separate();
        escape(self.out, name);
        self.out.push(':');
        self.comma = false;
        self
    }

    /// A string value.
    pub fn str(&mut self, v: &str) {
        self.separate();
        escape(self.out, v);
        self.comma = true;
    }

    /// A value's `Display` text, as a string.
    pub fn display(&mut self, v: impl fmt::Display) {
        self.separate();
        self.out.push('"');
        let _ = write!(Escaper(self.out), "{v}");
        self.out.push('"');
        self.comma = true;
    }

    /// A value's `Display` text as a string, or `null`.
    pub fn display_or_null(&mut self, v: Option<impl fmt::Display>) {
        match v {
            Some(v) => self.display(v),
            None => self.null(),
        }
    }

    /// A number.
    pub fn number(&mut self, v: impl Integer) {
        self.separate();
        let _ = write!(self.out, "{v}");
        self.comma = true;
    }

    /// A number, or `null`.
    pub fn number_or_null(&mut self, v: Option<impl Integer>) {
        match v {
            Some(v) => self.number(v),
            None => self.null(),
        }
    }

    /// `true` or `false`.
    pub fn bool(&mut self, v: bool) {
        self.separate();
        self.out.push_str(if v { "true" } else { "false" });
        self.comma = true;
    }

    /// `null`.
    pub fn null(&mut self) {
        self.separate();
        self.out.push_str("null");
        self.comma = true;
    }

    /// An object whose members `members` writes.
    pub fn object(&mut self, members: impl FnOnce(&mut Self)) {
        self.separate();
        self.out.push('{');
        self.comma = false;
        members(self);
        self.out.push('}');
        self.comma = true;
    }

    /// An array whose elements `elements` writes.
    pub fn array(&mut self, elements: impl FnOnce(&mut Self)) {
        self.separate();
        self.out.push('[');
        self.comma = false;
        elements(self);
        self.out.push(']');
        self.comma = true;
    }
}

/// Appends `v` as a JSON string (RFC 8259 7).
fn escape(out: &mut String, v: &str) {
    out.push('"');
    let _ = Escaper(out).write_str(v);
    out.push('"');
}

/// Escapes what is written through it (RFC 8259 7: "All Unicode characters may be placed
/// within the quotation marks, except for the characters that MUST be escaped: quotation mark,
/// reverse solidus, and the control characters (U+0000 through U+001F).").
struct Escaper<'a>(&'a mut String);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, v: &str) -> fmt::Result {
        for ch in v.chars() {
            match ch {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    write!(self.0, "\\u{:04x}", u32::from(c))?;
                }
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_between_members_and_elements() {
        let mut s = String::new();
        let mut w = Writer::new(&mut s);
        w.object(|w| {
            w.key("a").number(1u64);
            w.key("b").array(|w| {
                w.number(2u8);
                w.object(|_| {});
                w.null();
                w.bool(true);
            });
            w.key("c").display_or_null(None::<u8>);
            w.key("d").display(1.5f32);
            w.key("e").number_or_null(Some(usize::MAX));
        });
        assert_eq!(
            s,
            format!(
                "{{\"a\":1,\"b\":[2,{{}},null,true],\"c\":null,\"d\":\"1.5\",\"e\":{}}}",
                usize::MAX
            )
        );
    }

    #[test]
    fn strings_and_displayed_values_are_escaped_alike() {
        let v = "a\"b\\c\nd\r\t\u{1}\u{1f}é";
        let mut s = String::new();
        let mut w = Writer::new(&mut s);
        w.array(|w| {
            w.str(v);
            w.display(v);
        });
        let one = r#""a\"b\\c\nd\r\t\u0001\u001fé""#;
        assert_eq!(s, format!("[{one},{one}]"));
    }
}
