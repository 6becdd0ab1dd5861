//! Filter expressions: the tokens.

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    Word(String),
    Op(&'static str),
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) at: usize,
}

pub(super) const OPS: [&str; 22] = [
    "&&", "||", "<<", ">>", "==", "!=", "<=", ">=", "!", "(", ")", "[", "]", ":", "&", "|", "^",
    "+", "*", "%", "<", ">",
];

pub(super) fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '/' | '_')
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, (String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut brackets = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Inside [ ], ':' separates offset and size, and '-' and '/' are arithmetic.
        let in_word = |c: char| word_char(c) && !(brackets > 0 && matches!(c, ':' | '-' | '/'));
        if in_word(c) {
            let start = i;
            while i < chars.len() && in_word(chars[i]) {
                i += 1;
            }
            let w: String = chars[start..i].iter().collect();
            let tok = match w.as_str() {
                "-" => Tok::Op("-"),
                "/" => Tok::Op("/"),
                _ => Tok::Word(w),
            };
            out.push(Token { tok, at: start });
            continue;
        }
        if c == '=' {
            // "=" and "==" mean the same.
            let n = if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            out.push(Token {
                tok: Tok::Op("=="),
                at: i,
            });
            i += n;
            continue;
        }
        if matches!(c, '-' | '/' | ':') {
            let op = match c {
                '-' => "-",
                '/' => "/",
                _ => ":",
            };
            out.push(Token {
                tok: Tok::Op(op),
                at: i,
            });
            i += 1;
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op = OPS
            .iter()
            .find(|op| op.len() == 2 && two == **op)
            .or_else(|| OPS.iter().find(|op| op.len() == 1 && op.starts_with(c)));
        match op {
            Some(op) => {
                match *op {
                    "[" => brackets += 1,
                    "]" => brackets = brackets.saturating_sub(1),
                    _ => {}
                }
                out.push(Token {
                    tok: Tok::Op(op),
                    at: i,
                });
                i += op.len();
            }
            None => return Err((format!("unexpected character '{c}'"), i)),
        }
    }
    Ok(out)
}
