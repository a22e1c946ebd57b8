//! Text to [`Expr`]: a tokenizer and a recursive-descent parser.

use super::{Expr, ExprError, Func, Op};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Name(String),
    /// `and`, `or`, `not`, `true`, `false` and function names are names
    /// until the parser reads them; a backquoted name never is a keyword.
    Quoted(String),
    Sym(&'static str),
    End,
}

const SYMBOLS: &[&str] = &[
    "**", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",",
    "!", "=",
];

/// The longest an expression may be: they are one line in a sweep file.
const MAX_LEN: usize = 1000;
/// How deep brackets and operators may nest.
const MAX_DEPTH: usize = 64;

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_LEN {
        return Err(ExprError::new(
            MAX_LEN,
            format!("the expression is longer than {MAX_LEN} characters"),
        ));
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                // An exponent's sign: 1e-3.
                if matches!(chars[i], 'e' | 'E') && matches!(chars.get(i + 1), Some('+' | '-')) {
                    i += 1;
                }
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let digits = word.replace('_', "");
            let n = digits
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| ExprError::new(start, format!("`{word}` is not a number")))?;
            out.push((Token::Num(n), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push((Token::Name(chars[start..i].iter().collect()), start));
            continue;
        }
        if matches!(c, '\'' | '"' | '`') {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            if i == chars.len() {
                return Err(ExprError::new(start, format!("{c} is not closed"))
                    .help(format!("end the text with {c}")));
            }
            let inner: String = chars[start + 1..i].iter().collect();
            i += 1;
            let token = if c == '`' {
                Token::Quoted(inner)
            } else {
                Token::Str(inner)
            };
            out.push((token, start));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) else {
            return Err(ExprError::new(start, format!("unexpected `{c}`")));
        };
        let help = match *sym {
            "&&" => Some("write `and`"),
            "||" => Some("write `or`"),
            "!" => Some("write `not`"),
            "=" => Some("compare with `==`"),
            _ => None,
        };
        if let Some(help) = help {
            return Err(ExprError::new(start, format!("unexpected `{sym}`")).help(help));
        }
        out.push((Token::Sym(sym), start));
        i += sym.len();
    }
    out.push((Token::End, chars.len()));
    Ok(out)
}

/// Parse one expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(text)?;
    if tokens.len() == 1 {
        return Err(ExprError::new(0, "the expression is empty"));
    }
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        Token::End => Ok(expr),
        token => Err(
            ExprError::new(parser.at(), format!("unexpected {}", describe(token)))
                .help("join conditions with `and` or `or`"),
        ),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Num(n) => format!("number `{n}`"),
        Token::Str(s) => format!("text '{s}'"),
        Token::Name(n) | Token::Quoted(n) => format!("`{n}`"),
        Token::Sym(s) => format!("`{s}`"),
        Token::End => "end of the expression".into(),
    }
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next].0
    }

    fn at(&self) -> usize {
        self.tokens[self.next].1
    }

    fn bump(&mut self) -> (Token, usize) {
        let token = self.tokens[self.next].clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Token::Name(n) if n == word)
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Token::Sym(s) if *s == sym)
    }

    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(self.at(), "the expression nests too deeply"));
        }
        Ok(())
    }

    fn binary(op: Op, left: Expr, right: Expr, at: usize) -> Expr {
        Expr::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
            at,
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.deeper()?;
        let mut left = self.and()?;
        while self.is_word("or") {
            let at = self.bump().1;
            let right = self.and()?;
            left = Self::binary(Op::Or, left, right, at);
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.is_word("and") {
            let at = self.bump().1;
            let right = self.not()?;
            left = Self::binary(Op::And, left, right, at);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.is_word("not") {
            self.bump();
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let left = self.sum()?;
        let op = match self.peek() {
            Token::Sym("==") => Op::Eq,
            Token::Sym("!=") => Op::Ne,
            Token::Sym("<") => Op::Lt,
            Token::Sym("<=") => Op::Le,
            Token::Sym(">") => Op::Gt,
            Token::Sym(">=") => Op::Ge,
            _ => return Ok(left),
        };
        let at = self.bump().1;
        let right = self.sum()?;
        if let Token::Sym("==" | "!=" | "<" | "<=" | ">" | ">=") = self.peek() {
            return Err(ExprError::new(self.at(), "comparisons cannot be chained")
                .help("write `a < b and b < c`"));
        }
        Ok(Self::binary(op, left, right, at))
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Token::Sym("+") => Op::Add,
                Token::Sym("-") => Op::Sub,
                _ => return Ok(left),
            };
            let at = self.bump().1;
            let right = self.product()?;
            left = Self::binary(op, left, right, at);
        }
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Token::Sym("*") => Op::Mul,
                Token::Sym("/") => Op::Div,
                Token::Sym("%") => Op::Rem,
                _ => return Ok(left),
            };
            let at = self.bump().1;
            let right = self.unary()?;
            left = Self::binary(op, left, right, at);
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.is_sym("-") {
            self.bump();
            self.deeper()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        let base = self.atom()?;
        if self.is_sym("**") {
            let at = self.bump().1;
            self.deeper()?;
            let exponent = self.unary()?;
            self.depth -= 1;
            return Ok(Self::binary(Op::Pow, base, exponent, at));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let (token, at) = self.bump();
        match token {
            Token::Num(n) => Ok(Expr::Num(n)),
            Token::Str(s) => Ok(Expr::Str(s)),
            Token::Quoted(name) => Ok(Expr::Name { name, at }),
            Token::Name(word) => match word.as_str() {
                "true" | "True" => Ok(Expr::Bool(true)),
                "false" | "False" => Ok(Expr::Bool(false)),
                "and" | "or" | "not" => Err(ExprError::new(
                    at,
                    format!("expected a value before `{word}`"),
                )),
                _ if self.is_sym("(") => self.call(&word, at),
                _ => Ok(Expr::Name { name: word, at }),
            },
            Token::Sym("(") => {
                let inner = self.or()?;
                if !self.is_sym(")") {
                    return Err(ExprError::new(self.at(), "expected `)`")
                        .help(format!("close the bracket opened at column {}", at + 1)));
                }
                self.bump();
                Ok(inner)
            }
            token => Err(ExprError::new(
                at,
                format!("expected a value, found {}", describe(&token)),
            )),
        }
    }

    fn call(&mut self, word: &str, at: usize) -> Result<Expr, ExprError> {
        let Some(&(_, func)) = Func::ALL.iter().find(|(n, _)| *n == word) else {
            let names: Vec<&str> = Func::ALL.iter().map(|(n, _)| *n).collect();
            return Err(ExprError::new(at, format!("there is no function `{word}`"))
                .help(format!("the functions are {}", names.join(", "))));
        };
        self.bump(); // (
        let mut args = Vec::new();
        if !self.is_sym(")") {
            loop {
                args.push(self.or()?);
                if self.is_sym(",") {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        if !self.is_sym(")") {
            return Err(ExprError::new(self.at(), "expected `,` or `)`"));
        }
        self.bump();
        let arity_ok = match func {
            Func::Min | Func::Max => args.len() >= 2,
            Func::Abs | Func::Log | Func::Exp => args.len() == 1,
        };
        if !arity_ok {
            let wants = match func {
                Func::Min | Func::Max => "two or more values",
                _ => "one value",
            };
            return Err(ExprError::new(
                at,
                format!("`{word}` takes {wants}, given {}", args.len()),
            ));
        }
        Ok(Expr::Call { func, args, at })
    }
}
