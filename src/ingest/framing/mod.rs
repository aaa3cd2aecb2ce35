//! RFC 6587 stream framing for TCP/TLS syslog: splits the bytes a listener reads into syslog
//! messages, detecting octet counting or non-transparent framing frame by frame (§3.4).
//! Pure and bounded: no I/O and no runtime, and it knows nothing of message formats — frames go
//! to `parse` untouched.

use bytes::{Buf, Bytes, BytesMut};

#[cfg(test)]
mod tests;

/// Longest MSG-LEN accepted; a longer digit run is message text, and it keeps the count in `usize`.
const MAX_COUNT_DIGITS: usize = 9;

/// One syslog message taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message without its framing: no length prefix, no CR/LF/NUL trailer.
    pub bytes: Bytes,
    /// The message was longer than the framer's limit (or cut off by the end of the stream), and
    /// `bytes` holds only its start.
    pub truncated: bool,
    /// How the frame was delimited on the wire.
    pub framing: Framing,
}

/// The two framings of RFC 6587 §3.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG` (§3.4.1).
    OctetCounting,
    /// A message ended by LF, CRLF or NUL (§3.4.2).
    NonTransparent,
}

/// Limits and counters of one connection's framer.
///
/// Feed it with [`push`](Self::push) and drain [`next_frame`](Self::next_frame) until it returns
/// `None` after every push; then [`buffered`](Self::buffered) never exceeds
/// `max_message + 1 + ` the largest push, however the input is split.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    state: State,
    max_message: usize,
    frames: u64,
    truncated_frames: u64,
}

/// Where the framer stands in the stream; `buf` always starts at the position it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: skipping separators, then reading the next frame's start to learn its framing.
    Between,
    /// Octet-counted frame whose prefix is consumed: `len` message bytes follow.
    Counted { len: usize },
    /// Non-transparent frame; its first `scanned` bytes hold no terminator.
    Line { scanned: usize },
    /// Rest of an oversize octet-counted frame, dropped as it arrives.
    SkipCount { remaining: usize },
    /// Rest of an oversize non-transparent frame, dropped up to and with its terminator.
    SkipLine,
}

/// What the start of a frame says about its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `MSG-LEN SP`: `len` message bytes follow the `prefix_len` bytes of the prefix.
    Counted { len: usize, prefix_len: usize },
    /// Anything else: the frame runs to the next LF or NUL.
    NotCounted,
    /// Only digits so far: the next byte decides.
    Incomplete,
}

impl Framer {
    /// A framer for one connection. Frames longer than `max_message` bytes (the listeners use
    /// 64 KiB) are truncated to it and counted; a limit of 0 is taken as 1, so no frame is empty.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            state: State::Between,
            max_message: max_message.max(1),
            frames: 0,
            truncated_frames: 0,
        }
    }

    /// Appends bytes read from the socket. The rest of an oversize frame is dropped here, as it
    /// arrives, without being buffered.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if self.buf.is_empty() {
            bytes = &bytes[skip(&mut self.state, bytes)..];
        }
        self.buf.extend_from_slice(bytes);
        self.skip_buffered();
    }

    /// The next complete frame, if any (the message without its framing: no length prefix, no
    /// trailer). `None` means more input is needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            match self.state {
                State::Between => {
                    let start = self
                        .buf
                        .iter()
                        .position(|&b| !is_separator(b))
                        .unwrap_or(self.buf.len());
                    self.buf.advance(start);
                    match prefix(&self.buf) {
                        Prefix::Incomplete => return None,
                        Prefix::NotCounted => self.state = State::Line { scanned: 0 },
                        Prefix::Counted { len, prefix_len } => {
                            self.buf.advance(prefix_len);
                            self.state = State::Counted { len };
                        }
                    }
                }
                State::Counted { len } => {
                    let keep = len.min(self.max_message);
                    if self.buf.len() < keep {
                        return None;
                    }
                    let bytes = self.buf.split_to(keep).freeze();
                    let truncated = len > keep;
                    self.state = if truncated {
                        State::SkipCount { remaining: len - keep }
                    } else {
                        State::Between
                    };
                    self.skip_buffered();
                    return Some(self.emit(bytes, truncated, Framing::OctetCounting));
                }
                State::Line { scanned } => return self.line(scanned),
                State::SkipCount { .. } | State::SkipLine => {
                    self.skip_buffered();
                    if self.state != State::Between {
                        return None;
                    }
                }
            }
        }
    }

    /// At end of stream: the unterminated tail as a last frame, if it holds anything but white
    /// space. Complete frames still buffered come first, so calling it until `None` drains the
    /// connection. A partial octet-counted frame is returned with `truncated: true`. The framer
    /// is empty afterwards.
    pub fn finish(&mut self) -> Option<Frame> {
        if let Some(frame) = self.next_frame() {
            return Some(frame);
        }
        let state = std::mem::replace(&mut self.state, State::Between);
        let mut tail = self.buf.split();
        if tail.iter().all(|&b| is_separator(b)) {
            return None;
        }
        match state {
            State::Between | State::Line { .. } => {
                if tail.last() == Some(&b'\r') {
                    tail.truncate(tail.len() - 1);
                }
                Some(self.emit_capped(tail, Framing::NonTransparent))
            }
            State::Counted { .. } => Some(self.emit(tail.freeze(), true, Framing::OctetCounting)),
            State::SkipCount { .. } | State::SkipLine => None,
        }
    }

    /// Bytes buffered and not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Frames returned so far, truncated ones included.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frames returned with `truncated: true` so far.
    pub fn truncated_frames(&self) -> u64 {
        self.truncated_frames
    }

    /// A non-transparent frame at the start of `buf`, whose first `scanned` bytes hold no terminator.
    fn line(&mut self, scanned: usize) -> Option<Frame> {
        // The CR of a CRLF is trailer, so a full-size message may have its LF at `max_message + 1`.
        let window = self.buf.len().min(self.max_message + 2);
        match self.buf[scanned..window].iter().position(|&b| is_terminator(b)) {
            Some(i) => {
                let end = scanned + i;
                let mut line = self.buf.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                self.state = State::Between;
                Some(self.emit_capped(line, Framing::NonTransparent))
            }
            None if window == self.max_message + 2 => {
                // At least `max_message + 1` message bytes before any terminator: oversize.
                let line = self.buf.split_to(window);
                self.state = State::SkipLine;
                self.skip_buffered();
                Some(self.emit_capped(line, Framing::NonTransparent))
            }
            None => {
                self.state = State::Line { scanned: window };
                None
            }
        }
    }

    fn skip_buffered(&mut self) {
        let n = skip(&mut self.state, &self.buf);
        self.buf.advance(n);
    }

    fn emit_capped(&mut self, mut message: BytesMut, framing: Framing) -> Frame {
        let truncated = message.len() > self.max_message;
        message.truncate(self.max_message);
        self.emit(message.freeze(), truncated, framing)
    }

    fn emit(&mut self, bytes: Bytes, truncated: bool, framing: Framing) -> Frame {
        self.frames += 1;
        self.truncated_frames += u64::from(truncated);
        Frame {
            bytes,
            truncated,
            framing,
        }
    }
}

/// In a skip state, how many bytes at the start of `input` belong to the frame being dropped;
/// moves on to `Between` once that frame ends.
fn skip(state: &mut State, input: &[u8]) -> usize {
    match *state {
        State::SkipCount { remaining } => {
            let n = remaining.min(input.len());
            *state = if n == remaining {
                State::Between
            } else {
                State::SkipCount {
                    remaining: remaining - n,
                }
            };
            n
        }
        State::SkipLine => match input.iter().position(|&b| is_terminator(b)) {
            Some(i) => {
                *state = State::Between;
                i + 1
            }
            None => input.len(),
        },
        State::Between | State::Counted { .. } | State::Line { .. } => 0,
    }
}

/// RFC 6587 §3.4: a frame opening with `[1-9][0-9]{0,8} SP` is octet counted.
fn prefix(buf: &[u8]) -> Prefix {
    match buf.first() {
        None => return Prefix::Incomplete,
        Some(b'1'..=b'9') => {}
        Some(_) => return Prefix::NotCounted,
    }
    let mut len = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'0'..=b'9' if i < MAX_COUNT_DIGITS => len = len * 10 + usize::from(b - b'0'),
            b' ' => {
                return Prefix::Counted { len, prefix_len: i + 1 };
            }
            _ => return Prefix::NotCounted,
        }
    }
    Prefix::Incomplete
}

/// Bytes skipped between frames: trailer runs vendors leave behind and leading white space.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\0')
}

/// Ends a non-transparent frame; some vendors send NUL instead of LF.
fn is_terminator(b: u8) -> bool {
    b == b'\n' || b == b'\0'
}
