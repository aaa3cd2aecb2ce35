use super::*;
use proptest::prelude::*;

/// `message` with an RFC 6587 octet-count prefix.
fn counted(message: &[u8]) -> Vec<u8> {
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message);
    framed
}

fn frame(message: &[u8], truncated: bool, framing: Framing) -> Frame {
    Frame {
        bytes: Bytes::copy_from_slice(message),
        truncated,
        framing,
    }
}

fn oc(message: &str) -> Frame {
    frame(message.as_bytes(), false, Framing::OctetCounting)
}

fn nt(message: &str) -> Frame {
    frame(message.as_bytes(), false, Framing::NonTransparent)
}

/// Pushes `chunks` in order, draining after each push and finishing at the end.
fn frame_chunks<'a>(framer: &mut Framer, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Frame> {
    let mut frames = Vec::new();
    for chunk in chunks {
        framer.push(chunk);
        frames.extend(std::iter::from_fn(|| framer.next_frame()));
    }
    frames.extend(std::iter::from_fn(|| framer.finish()));
    frames
}

fn frame_all(max_message: usize, input: &[u8]) -> Vec<Frame> {
    frame_chunks(&mut Framer::new(max_message), [input])
}

fn frame_bytewise(max_message: usize, input: &[u8]) -> Vec<Frame> {
    frame_chunks(&mut Framer::new(max_message), input.chunks(1))
}

/// A connection mixing every framing, vendor habit and an oversize frame of each kind (limit 16).
fn mixed_stream() -> Vec<u8> {
    let mut input = counted(b"<13>one two");
    input.extend_from_slice(b"<14>lf\n");
    input.extend_from_slice(b"<15>crlf\r\n");
    input.extend_from_slice(b"<16>nul\0\0\r\n");
    input.extend_from_slice(&counted(b"<17>this one is far too long"));
    input.extend_from_slice(b"  \n");
    input.extend_from_slice(&counted(b"12 digits\n"));
    input.extend_from_slice(b"<18>this line is also far too long\r\n");
    input.extend_from_slice(b"0 zero count\n");
    input.extend_from_slice(b"1234567890 ten digits\n");
    input.extend_from_slice(b"<19>tail");
    input
}

fn mixed_frames() -> Vec<Frame> {
    vec![
        oc("<13>one two"),
        nt("<14>lf"),
        nt("<15>crlf"),
        nt("<16>nul"),
        frame(b"<17>this one is ", true, Framing::OctetCounting),
        oc("12 digits\n"),
        frame(b"<18>this line is", true, Framing::NonTransparent),
        nt("0 zero count"),
        frame(b"1234567890 ten d", true, Framing::NonTransparent),
        nt("<19>tail"),
    ]
}

#[test]
fn octet_counted_frames_are_split_by_their_declared_length() {
    let mut input = counted(b"<13>hello world");
    input.extend_from_slice(&counted(b"<14>line\nbreak and \0 nul inside"));
    input.extend_from_slice(&counted(b" "));
    assert_eq!(
        frame_all(1024, &input),
        vec![oc("<13>hello world"), oc("<14>line\nbreak and \0 nul inside"), oc(" ")]
    );
}

#[test]
fn lf_terminated_frames_end_at_each_newline() {
    assert_eq!(
        frame_all(1024, b"<13>first\n<14>second has 12 digits\n"),
        vec![nt("<13>first"), nt("<14>second has 12 digits")]
    );
}

#[test]
fn crlf_terminated_frames_lose_their_carriage_return_only() {
    assert_eq!(
        frame_all(1024, b"<13>first\r\n<14>inner\rcr \r\n"),
        vec![nt("<13>first"), nt("<14>inner\rcr ")]
    );
}

#[test]
fn nul_terminated_frames_are_split_like_newlines() {
    assert_eq!(
        frame_all(1024, b"<13>first\0<14>second\0"),
        vec![nt("<13>first"), nt("<14>second")]
    );
}

#[test]
fn terminator_runs_and_leading_white_space_never_make_empty_frames() {
    let input = b"\r\n\0  \n<13>a\r\n\r\n\0\0\n\n \t<14>b\n\n\r\n";
    let mut framer = Framer::new(1024);
    assert_eq!(frame_chunks(&mut framer, [&input[..]]), vec![nt("<13>a"), nt("<14>b")]);
    assert_eq!(framer.frames(), 2);
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn one_connection_may_mix_both_framings_and_every_terminator() {
    let mut framer = Framer::new(16);
    assert_eq!(frame_chunks(&mut framer, [&mixed_stream()[..]]), mixed_frames());
    assert_eq!(framer.frames(), 10);
    assert_eq!(framer.truncated_frames(), 3);
}

#[test]
fn counts_of_zero_or_more_than_nine_digits_fall_back_to_non_transparent() {
    assert_eq!(
        frame_all(1024, b"0 zero\n1234567890 ten\n012 leading zero\n12abc\n"),
        vec![nt("0 zero"), nt("1234567890 ten"), nt("012 leading zero"), nt("12abc")]
    );
    assert_eq!(
        frame_all(1024, b"123456789 nine"),
        vec![frame(b"nine", true, Framing::OctetCounting)]
    );
}

#[test]
fn feeding_one_byte_at_a_time_gives_the_same_frames_as_one_push() {
    assert_eq!(frame_bytewise(16, &mixed_stream()), mixed_frames());
}

#[test]
fn splitting_the_input_at_any_single_boundary_gives_the_same_frames() {
    let input = mixed_stream();
    for split in 0..=input.len() {
        let (head, tail) = input.split_at(split);
        let frames = frame_chunks(&mut Framer::new(16), [head, tail]);
        assert_eq!(frames, mixed_frames(), "split at byte {split}");
    }
}

#[test]
fn an_oversize_octet_counted_frame_is_truncated_counted_and_the_next_frame_is_intact() {
    let long = vec![b'x'; 1000];
    let mut input = counted(&long);
    input.extend_from_slice(&counted(b"<13>next"));
    input.extend_from_slice(b"<14>after\n");
    let expected = vec![
        frame(&long[..100], true, Framing::OctetCounting),
        oc("<13>next"),
        nt("<14>after"),
    ];
    for chunks in [input.chunks(input.len()), input.chunks(1), input.chunks(7)] {
        let mut framer = Framer::new(100);
        assert_eq!(frame_chunks(&mut framer, chunks), expected);
        assert_eq!((framer.frames(), framer.truncated_frames()), (3, 1));
    }
}

#[test]
fn an_oversize_non_transparent_frame_is_truncated_counted_and_the_next_frame_is_intact() {
    let mut long = vec![b'<', b'1', b'3', b'>'];
    long.resize(1000, b'y');
    for trailer in [&b"\n"[..], b"\r\n", b"\0"] {
        let mut input = long.clone();
        input.extend_from_slice(trailer);
        input.extend_from_slice(&counted(b"<13>next"));
        input.extend_from_slice(b"<14>after\n");
        let expected = vec![
            frame(&long[..100], true, Framing::NonTransparent),
            oc("<13>next"),
            nt("<14>after"),
        ];
        for chunks in [input.chunks(input.len()), input.chunks(1), input.chunks(7)] {
            let mut framer = Framer::new(100);
            assert_eq!(frame_chunks(&mut framer, chunks), expected);
            assert_eq!((framer.frames(), framer.truncated_frames()), (3, 1));
        }
    }
}

#[test]
fn frames_of_exactly_max_message_bytes_are_not_truncated_and_one_more_byte_is() {
    let mut input = counted(b"<13>abcd");
    input.extend_from_slice(b"<13>efgh\r\n<13>ijkl\n<13>mnopq\r\n");
    input.extend_from_slice(&counted(b"<13>rstuv"));
    input.extend_from_slice(b"<13>end\n");
    let expected = vec![
        oc("<13>abcd"),
        nt("<13>efgh"),
        nt("<13>ijkl"),
        frame(b"<13>mnop", true, Framing::NonTransparent),
        frame(b"<13>rstu", true, Framing::OctetCounting),
        nt("<13>end"),
    ];
    assert_eq!(frame_all(8, &input), expected);
    assert_eq!(frame_bytewise(8, &input), expected);
}

#[test]
fn a_huge_declared_length_is_discarded_as_it_arrives_without_buffering() {
    let mut framer = Framer::new(16);
    framer.push(b"999999999 <13>");
    assert_eq!(framer.next_frame(), None);
    let chunk = [b'z'; 4096];
    let mut frames = Vec::new();
    for _ in 0..1000 {
        framer.push(&chunk);
        frames.extend(std::iter::from_fn(|| framer.next_frame()));
        assert!(framer.buffered() <= 16, "buffered {}", framer.buffered());
    }
    assert_eq!(frames, vec![frame(b"<13>zzzzzzzzzzzz", true, Framing::OctetCounting)]);
    assert_eq!(framer.finish(), None);
    assert_eq!((framer.frames(), framer.truncated_frames()), (1, 1));
}

#[test]
fn an_endless_line_is_discarded_as_it_arrives_without_buffering() {
    let mut framer = Framer::new(16);
    let chunk = [b'z'; 4096];
    for _ in 0..100 {
        framer.push(&chunk);
        while framer.next_frame().is_some() {}
        assert!(framer.buffered() <= 16 + 1, "buffered {}", framer.buffered());
    }
    framer.push(b"\n<13>back\n");
    assert_eq!(framer.next_frame(), Some(nt("<13>back")));
    assert_eq!((framer.frames(), framer.truncated_frames()), (2, 1));
}

#[test]
fn finish_returns_the_unterminated_tail_as_a_last_frame() {
    let mut framer = Framer::new(1024);
    framer.push(b"<13>done\n<14>unterminated tail\r");
    assert_eq!(framer.next_frame(), Some(nt("<13>done")));
    assert_eq!(framer.next_frame(), None);
    assert_eq!(framer.finish(), Some(nt("<14>unterminated tail")));
    assert_eq!(framer.finish(), None);
    assert_eq!(framer.buffered(), 0);
}

#[test]
fn finish_returns_a_lone_number_as_a_non_transparent_tail() {
    let mut framer = Framer::new(1024);
    framer.push(b"\n 123");
    assert_eq!(framer.next_frame(), None);
    assert_eq!(framer.finish(), Some(nt("123")));
}

#[test]
fn finish_ignores_a_tail_of_white_space() {
    let mut framer = Framer::new(1024);
    framer.push(b"<13>a\n \r\n\t \0 ");
    assert_eq!(framer.next_frame(), Some(nt("<13>a")));
    assert_eq!(framer.finish(), None);
    assert_eq!(framer.frames(), 1);
}

#[test]
fn finish_returns_a_partial_octet_counted_frame_as_truncated() {
    let mut framer = Framer::new(1024);
    framer.push(b"20 <13>cut");
    assert_eq!(framer.next_frame(), None);
    assert_eq!(framer.finish(), Some(frame(b"<13>cut", true, Framing::OctetCounting)));
    assert_eq!(framer.truncated_frames(), 1);
}

#[test]
fn finish_returns_complete_frames_still_buffered_first() {
    let mut framer = Framer::new(1024);
    framer.push(b"<13>a\n<14>b\n<15>c");
    assert_eq!(framer.finish(), Some(nt("<13>a")));
    assert_eq!(framer.finish(), Some(nt("<14>b")));
    assert_eq!(framer.finish(), Some(nt("<15>c")));
    assert_eq!(framer.finish(), None);
}

#[test]
fn a_limit_of_zero_still_yields_non_empty_frames() {
    let mut framer = Framer::new(0);
    assert_eq!(
        frame_chunks(&mut framer, [&b"<13>a\n3 xyz"[..]]),
        vec![
            frame(b"<", true, Framing::NonTransparent),
            frame(b"x", true, Framing::OctetCounting)
        ]
    );
}

/// Would `message` read as an octet-count prefix (`[1-9][0-9]{0,8} SP`) when sent non-transparently?
fn looks_octet_counted(message: &[u8]) -> bool {
    let digits = message.iter().take_while(|b| b.is_ascii_digit()).count();
    matches!(message.first(), Some(b'1'..=b'9')) && digits <= 9 && message.get(digits) == Some(&b' ')
}

/// How one message goes on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire {
    Counted,
    Lf,
    CrLf,
    Nul,
}

fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![Just(Wire::Counted), Just(Wire::Lf), Just(Wire::CrLf), Just(Wire::Nul)]
}

/// A message, how it goes on the wire and the separators sent after it.
type Sent = (Vec<u8>, Wire, Vec<&'static [u8]>);

/// Printable messages that may open with spaces or digits (those that would then misread as
/// non-transparent are sent octet counted), each with its framing and a run of separators after it.
fn connection() -> impl Strategy<Value = (Vec<Sent>, bool)> {
    let separators = prop::collection::vec(prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\0", b" "]), 0..3);
    let message = prop_oneof![
        prop::collection::vec(0x20u8..=0x7e, 1..60),
        ("[1-9][0-9]{0,10} [ -~]{0,20}", "[ ]{1,3}[ -~]{0,20}")
            .prop_flat_map(|(d, s)| prop_oneof![Just(d), Just(s)])
            .prop_map(String::into_bytes),
    ];
    (
        prop::collection::vec((message, wire(), separators), 0..20),
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn random_connections_split_at_random_points_give_back_every_message_in_order(
        (messages, open_tail) in connection(),
        max_message in 8usize..40,
        chunk_sizes in prop::collection::vec(1usize..150, 1..10),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        let last = messages.len().saturating_sub(1);
        for (i, (message, wire, separators)) in messages.iter().enumerate() {
            let non_transparent = message[0] != b' ' && !looks_octet_counted(message);
            let wire = if non_transparent { *wire } else { Wire::Counted };
            let framing = match wire {
                Wire::Counted => Framing::OctetCounting,
                Wire::Lf | Wire::CrLf | Wire::Nul => Framing::NonTransparent,
            };
            let truncated = message.len() > max_message;
            expected.push(frame(&message[..message.len().min(max_message)], truncated, framing));
            if open_tail && i == last && framing == Framing::NonTransparent {
                input.extend_from_slice(message);
                break;
            }
            match wire {
                Wire::Counted => input.extend_from_slice(&counted(message)),
                Wire::Lf => input.extend_from_slice(&[message.as_slice(), b"\n"].concat()),
                Wire::CrLf => input.extend_from_slice(&[message.as_slice(), b"\r\n"].concat()),
                Wire::Nul => input.extend_from_slice(&[message.as_slice(), b"\0"].concat()),
            }
            input.extend(separators.iter().flat_map(|s| s.iter()));
        }

        let mut framer = Framer::new(max_message);
        let mut frames = Vec::new();
        let mut rest = input.as_slice();
        for &size in chunk_sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            framer.push(chunk);
            // Before draining: what was left over, plus this read; a CR and a terminator of slack.
            prop_assert!(framer.buffered() <= max_message + chunk.len() + 2);
            frames.extend(std::iter::from_fn(|| framer.next_frame()));
            prop_assert!(framer.buffered() <= max_message + 2);
        }
        frames.extend(std::iter::from_fn(|| framer.finish()));

        let truncated = expected.iter().filter(|f| f.truncated).count() as u64;
        prop_assert_eq!(&frames, &expected);
        prop_assert_eq!(framer.frames(), expected.len() as u64);
        prop_assert_eq!(framer.truncated_frames(), truncated);
        prop_assert_eq!(framer.buffered(), 0);
    }

    #[test]
    fn the_mixed_connection_split_at_random_points_gives_the_same_frames(
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let input = mixed_stream();
        let mut points: Vec<usize> = splits.iter().map(|i| i.index(input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for point in points.into_iter().chain([input.len()]) {
            chunks.push(&input[start..point]);
            start = point;
        }
        prop_assert_eq!(frame_chunks(&mut Framer::new(16), chunks), mixed_frames());
    }
}
