use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn ctx() -> ParseContext {
    ParseContext::new(Utc.with_ymd_and_hms(2024, 3, 12, 12, 0, 0).unwrap())
}

const FIREWALL: &str = include_str!("../../../tests/corpus/csv/firewall_export.csv");
const ECS_AUTH: &str = include_str!("../../../tests/corpus/csv/ecs_auth.csv");

#[test]
fn a_header_of_ecs_names_names_the_fields_directly() {
    let records = parse(ECS_AUTH, &ctx()).unwrap();
    assert_eq!(records.len(), 3);
    let first = &records[0].fields;
    assert_eq!(first["source.ip"], "10.20.30.41");
    assert_eq!(first["source.port"], "50112");
    assert_eq!(first["user.name"], "alice");
    assert_eq!(first["message"], "Accepted password for alice");
    assert_eq!(first["@timestamp"], "2024-03-12T08:41:27.519000Z");
    assert_eq!(
        records[1].fields["message"],
        "Failed password for administrator from 203.0.113.77, attempt 3"
    );
    assert!(
        !records[1].fields.contains_key("source.port"),
        "an empty cell is left out"
    );
    assert_eq!(records[2].fields["@timestamp"], "2024-03-12T08:43:05.000000Z");
    assert_eq!(records[2].fields["source.ip"], "2001:db8::17");
}

#[test]
fn each_row_spans_its_own_bytes_without_the_line_terminator() {
    let records = parse(ECS_AUTH, &ctx()).unwrap();
    let lines: Vec<&str> = ECS_AUTH.lines().skip(1).collect();
    for (record, line) in records.iter().zip(lines) {
        assert_eq!(&ECS_AUTH[record.span.clone()], line);
    }
}

#[test]
fn quoted_cells_keep_commas_doubled_quotes_and_embedded_newlines() {
    let records = parse(FIREWALL, &ctx()).unwrap();
    assert_eq!(records.len(), 3);
    let dropped = &records[1].fields;
    assert_eq!(dropped["Source address"], "203.0.113.77");
    assert_eq!(dropped["Destination Port"], "445");
    assert_eq!(
        dropped["Comment"],
        "blocked by \"deny-inbound\" rule\r\nticket INC-4412 opened"
    );
    assert!(!dropped.contains_key("Source User"));
    assert_eq!(records[0].fields["Rule"], "allow-web, outbound");
    assert_eq!(records[0].fields["Source User"], r"corp\alice");
    assert!(!records[0].fields.contains_key("Comment"));
    let raw = &FIREWALL[records[1].span.clone()];
    assert!(
        raw.starts_with("2024/03/12 09:05:41,") && raw.ends_with("ticket INC-4412 opened\""),
        "{raw:?}"
    );
    assert!(FIREWALL[records[2].span.clone()].ends_with("landing page\""));
}

#[test]
fn a_row_with_the_wrong_number_of_fields_names_its_line() {
    let doc = "a,b,c\n1,2,3\n\"multi\nline\",5,6\n7,8\n";
    assert_eq!(
        parse(doc, &ctx()).unwrap_err(),
        CsvError::FieldCount {
            line: 5,
            offset: doc.find("7,8").unwrap(),
            expected: 3,
            found: 2
        }
    );
    let err = parse("a,b\r\n1,2,3\r\n", &ctx()).unwrap_err();
    assert_eq!((err.line(), err.offset()), (2, 5));
    assert!(
        err.to_string()
            .starts_with("line 2 (byte offset 5): 3 fields where the header has 2"),
        "{err}"
    );
}

#[test]
fn header_names_are_trimmed_blank_ones_numbered_and_repeats_refused() {
    let records = parse(" user.name , ,x\nroot,1,2\n", &ctx()).unwrap();
    assert_eq!(
        records[0].fields,
        Fields::from_iter([
            ("user.name".into(), json!("root")),
            ("column2".into(), json!("1")),
            ("x".into(), json!("2"))
        ])
    );
    assert_eq!(
        parse("a,b,a\n1,2,3\n", &ctx()).unwrap_err(),
        CsvError::DuplicateHeader {
            line: 1,
            offset: 0,
            name: "a".into()
        }
    );
}

#[test]
fn cells_are_trimmed_and_rows_of_empty_cells_are_skipped() {
    let doc = "a,b\n  x ,\" y\"\n,\n , \n\nz,\n";
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].fields,
        Fields::from_iter([("a".into(), json!("x")), ("b".into(), json!("y"))])
    );
    assert_eq!(records[1].fields, Fields::from_iter([("a".into(), json!("z"))]));
    assert_eq!(&doc[records[1].span.clone()], "z,");
}

#[test]
fn header_only_and_blank_documents_have_no_records() {
    assert!(parse("", &ctx()).unwrap().is_empty());
    assert!(parse("\n\n", &ctx()).unwrap().is_empty());
    assert!(parse("a,b,c\r\n", &ctx()).unwrap().is_empty());
}

#[test]
fn timestamps_without_a_zone_are_read_in_the_context_zone_and_others_kept() {
    let mut ctx = ctx();
    ctx.tz = Some(chrono_tz::America::New_York);
    let doc = "@timestamp,n\n2024-03-12 08:00:00.25,1\nlast tuesday,2\n1710230400,3\n";
    let records = parse(doc, &ctx).unwrap();
    assert_eq!(records[0].fields["@timestamp"], "2024-03-12T12:00:00.250000Z");
    assert_eq!(records[1].fields["@timestamp"], "last tuesday");
    assert_eq!(records[2].fields["@timestamp"], "1710230400");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_header_name() {
    let doc = "\u{feff}@timestamp,user.name\n2024-03-12T08:00:00Z,root\n";
    let records = parse(doc, &ctx()).unwrap();
    assert_eq!(records[0].fields["user.name"], "root");
    assert!(records[0].fields.contains_key("@timestamp"));
    assert_eq!(&doc[records[0].span.clone()], "2024-03-12T08:00:00Z,root");
    let err = parse("\u{feff}a,b\n1\n", &ctx()).unwrap_err();
    assert!(
        matches!(err, CsvError::FieldCount { line: 2, offset: 7, .. }),
        "{err:?}"
    );
}

fn header_strategy() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z@][a-z._]{0,8}", 1..6).prop_map(|names| names.into_iter().collect())
}

fn cell_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9 ,\"'\\r\\n;é\\t]{0,16}",
        "[a-z0-9.:-]{1,12}",
    ]
}

proptest! {
    #[test]
    fn rows_written_by_the_csv_writer_read_back_cell_for_cell(
        header in header_strategy(),
        rows in prop::collection::vec(prop::collection::vec(cell_strategy(), 6), 0..8),
        crlf in any::<bool>(),
    ) {
        let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r[..header.len()].to_vec()).collect();
        let terminator = if crlf { ::csv::Terminator::CRLF } else { ::csv::Terminator::Any(b'\n') };
        let mut writer = ::csv::WriterBuilder::new().terminator(terminator).from_writer(Vec::new());
        writer.write_record(&header).unwrap();
        for row in &rows {
            writer.write_record(row).unwrap();
        }
        let doc = String::from_utf8(writer.into_inner().unwrap()).unwrap();

        let expected: Vec<Fields> = rows
            .iter()
            .map(|row| {
                header
                    .iter()
                    .zip(row)
                    .filter(|(_, cell)| !cell.trim().is_empty())
                    .map(|(name, cell)| (name.clone(), json!(cell.trim())))
                    .collect::<Fields>()
            })
            .filter(|fields| !fields.is_empty())
            .collect();
        // `@timestamp` values are rewritten; the generated ones never parse as times.
        let records = parse(&doc, &ctx()).unwrap();
        let fields: Vec<Fields> = records.iter().map(|r| r.fields.clone()).collect();
        prop_assert_eq!(&fields, &expected, "{:?}", doc);
        for record in &records {
            let mut reader = ::csv::ReaderBuilder::new().has_headers(false).from_reader(doc[record.span.clone()].as_bytes());
            let row = reader.records().next().unwrap().unwrap();
            prop_assert_eq!(row.len(), header.len());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(doc in "\\PC{0,200}") {
        let _ = parse(&doc, &ctx());
    }

    #[test]
    fn quote_heavy_text_never_panics(doc in "[a\",\\r\\n\u{feff} ]{0,80}") {
        let _ = parse(&doc, &ctx());
    }
}
