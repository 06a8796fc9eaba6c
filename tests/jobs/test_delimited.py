from core.config_dataset import DelimitedFile
from jobs.delimited import MALFORMED, file_records, parse_columns, read_lines, read_source_lines
from tests.conftest import lines_frame


def test_read_lines_drops_headers_and_blank_lines_and_trims_the_cr(spark, tmp_path):
    # Two files of one source, CRLF line endings, each with the header; a blank CRLF line and an empty line.
    (tmp_path / "a.csv").write_bytes(b"user,item\r\nu1,i1\r\n\r\nu2,i2\r\n")
    (tmp_path / "b.csv").write_bytes(b"user,item\r\n\nu3,i3 \r\n")
    got = sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=True).collect())
    assert got == ["u1,i1", "u2,i2", "u3,i3 "]  # only the CR is trimmed; a trailing space is data


def test_read_lines_without_header_keeps_the_first_line(spark, tmp_path):
    (tmp_path / "a.tsv").write_bytes(b"1\t2\n3\t4\n")
    assert sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=False).collect()) == ["1\t2", "3\t4"]


def csv_file(**overrides) -> DelimitedFile:
    return DelimitedFile(**{"path": "unused", "delimiter": ",", "header": False, "columns": ["id", "title", "genres"],
                            **overrides})


def parsed(spark, lines, text):
    rows = parse_columns(lines_frame(spark, lines), text).collect()
    return [(row[MALFORMED], row["id"], row["title"], row["genres"]) for row in rows]


def test_quoted_fields_keep_their_delimiters_and_doubled_quotes(spark):
    lines = ['1,"American President, The (1995)",Comedy|Drama',
             '2,"Say ""Hi"" (2001)",Drama',
             '3, Heat (1995) ,',  # fields are trimmed; an empty one is null
             '4,"Unterminated, (1999),Drama',  # a record cut at a line break inside quotes
             '5,Stray " quote,Drama',
             '6,Too,many,fields',
             '7,Too few']
    assert parsed(spark, lines, csv_file()) == [
        (False, "1", "American President, The (1995)", "Comedy|Drama"),
        (False, "2", 'Say "Hi" (2001)', "Drama"),
        (False, "3", "Heat (1995)", None),
        (True, "4", "Unterminated, (1999),Drama", None),
        (True, "5", 'Stray " quote', "Drama"),
        (True, "6", "Too", "many"),
        (True, "7", "Too few", None),
    ]


def test_without_quoting_a_quote_is_an_ordinary_character(spark):
    lines = ['1\t"Quoted" title\tDrama', '2\t"a\tb"\tDrama']
    assert parsed(spark, lines, csv_file(delimiter="\t", quote=None)) == [
        (False, "1", '"Quoted" title', "Drama"),
        (True, "2", '"a', "b\""),
    ]


def test_a_multi_character_delimiter(spark):
    lines = ["1::Toy Story (1995)::Animation|Comedy", "2::Jumanji (1995)"]
    assert parsed(spark, lines, csv_file(delimiter="::")) == [
        (False, "1", "Toy Story (1995)", "Animation|Comedy"), (True, "2", "Jumanji (1995)", None)]


def test_a_json_lines_file_takes_values_by_key_and_a_line_that_is_not_one_object_is_malformed(spark):
    lines = ['{"genres": ["Comedy", "Drama"], "id": 1, "title": "American President, The (1995)", "year": 1995}',
             '{"id": "2", "title": "Say \\"Hi\\" (2001)"}',  # a key missing: null, not malformed
             ' {"id": 3, "title": " Heat (1995) ", "genres": null} ',  # trimmed, as delimited fields are
             '{"id": 4, "title": "Unterminated',
             '{"id": 5} {"id": 6}',  # two objects on a line, with a comma or without
             '{"id": 5}, {"id": 6}',
             '[{"id": 7}]',
             'id,title,genres']
    assert parsed(spark, lines, DelimitedFile(path="unused", columns=["id", "title", "genres"], format="json")) == [
        (False, "1", "American President, The (1995)", '["Comedy","Drama"]'),
        (False, "2", 'Say "Hi" (2001)', None),
        (False, "3", "Heat (1995)", None),
        (True, None, None, None),
        (True, "5", None, None),
        (True, "5", None, None),
        (True, None, None, None),
        (True, None, None, None)]


def test_a_latin_1_file_is_decoded_not_replaced(spark, tmp_path):
    (tmp_path / "movies.dat").write_bytes("id::title\r\n1::Café (1999)\r\n2::Señor (2001)\r\n".encode("latin-1"))
    got = sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=True, encoding="iso-8859-1").collect())
    assert got == ["1::Café (1999)", "2::Señor (2001)"]
    as_utf8 = sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=True).collect())
    assert "1::Café (1999)" not in as_utf8  # what the reader did before: the é became a replacement character


def test_a_line_that_is_not_text_in_the_declared_encoding_is_malformed(spark, tmp_path):
    (tmp_path / "movies.csv").write_bytes("1,Café (1999),Drama\n2,Heat (1995),Drama\n".encode("latin-1"))
    as_utf8 = parse_columns(read_lines(spark, str(tmp_path), header=False), csv_file())
    assert sorted((row["id"], row[MALFORMED]) for row in as_utf8.collect()) == [("1", True), ("2", False)]
    as_ascii = parse_columns(read_lines(spark, str(tmp_path), False, "iso-8859-1"), csv_file(encoding="us-ascii"))
    assert sorted((row["id"], row[MALFORMED]) for row in as_ascii.collect()) == [("1", True), ("2", False)]


def test_a_windows_1252_file_reads_its_euro_signs_and_curly_quotes_and_an_undefined_byte_is_malformed(spark, tmp_path):
    # 0x80 is the euro sign, 0x93/0x94 curly quotes, 0x96 a dash; 0xe9 an é as in latin-1; 0x81 means nothing.
    (tmp_path / "items.csv").write_bytes(b"1,\x93Caf\xe9\x94 \x96 \x805,Drama\r\n2,Odd \x81,Drama\r\n")
    text = csv_file(encoding="cp1252")
    rows = parse_columns(read_source_lines(spark, str(tmp_path), text), text).collect()
    assert sorted((row["id"], row["title"], row[MALFORMED]) for row in rows) == [
        ("1", "\u201cCaf\u00e9\u201d \u2013 \u20ac5", False), ("2", "Odd \x81", True)]


def test_a_utf_16_file_with_its_byte_order_mark_reads_like_utf_8_and_what_is_not_utf_16_is_malformed(spark, tmp_path):
    # What Excel saves as "Unicode text": UTF-16LE with a byte-order mark, CRLF, here a header and a quoted comma.
    text = 'id,title,genres\r\n1,"Café, Le (1999)",Drama\r\n2,€uro (2001),Comedy\r\n'
    (tmp_path / "le").mkdir()
    (tmp_path / "le" / "movies.csv").write_bytes(text.encode("utf-16"))  # Python writes the mark, little-endian
    (tmp_path / "be").mkdir()
    (tmp_path / "be" / "movies.csv").write_bytes(text.encode("utf-16-be"))  # no mark: big-endian, as the standard says
    # A lone high surrogate (0xd800) in the second line's title: three fields, but not UTF-16.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "movies.csv").write_bytes("1,A (1999),Drama\n2,B".encode("utf-16-le") + b"\x00\xd8"
                                                  + ",Drama\n3,C (2000),Drama\n".encode("utf-16-le"))
    expected = [('1,"Café, Le (1999)",Drama', False, "Café, Le (1999)"), ("2,€uro (2001),Comedy", False, "€uro (2001)")]
    for folder, encoding, header in (("le", "utf-16", True), ("be", "utf-16", True), ("le", "utf-16le", True)):
        config = csv_file(encoding=encoding, header=header)
        rows = parse_columns(read_source_lines(spark, str(tmp_path / folder), config), config).collect()
        assert sorted((row["raw"], row[MALFORMED], row["title"]) for row in rows) == expected, (folder, encoding)
    config = csv_file(encoding="utf-16le")
    rows = parse_columns(read_source_lines(spark, str(tmp_path / "bad"), config), config).collect()
    assert sorted((row["id"], row[MALFORMED]) for row in rows) == [("1", False), ("2", True), ("3", False)]


def test_a_multiline_file_is_cut_into_records_where_its_quotes_balance():
    content = b'id,title\r\n1,"Two\r\nlines"\r\n2,"Say ""Hi""\n\nthere"\r\n3,plain\r\n4,"open\r\n5,never closed\r\n'
    assert file_records(content, b'"', header=True) == [
        b'1,"Two\r\nlines"\r', b'2,"Say ""Hi""\n\nthere"\r', b"3,plain\r", b'4,"open\r\n5,never closed\r']


def test_a_multiline_record_keeps_its_line_breaks_and_parses_as_one_row(spark, tmp_path):
    (tmp_path / "movies.csv").write_bytes(b'id,title,genres\r\n1,"Two\r\nlines (1995)",Drama\r\n\r\n'
                                          b'2,Heat (1995),Action\r\n3,"Open (1999),Drama\r\n')
    text = csv_file(header=True, multiline=True)
    rows = parse_columns(read_source_lines(spark, str(tmp_path), text), text).collect()
    assert sorted((row["raw"], row[MALFORMED], row["title"]) for row in rows) == [
        ('1,"Two\r\nlines (1995)",Drama', False, "Two\r\nlines (1995)"),
        ("2,Heat (1995),Action", False, "Heat (1995)"),
        ('3,"Open (1999),Drama', True, "Open (1999),Drama"),  # unterminated at the end of the file
    ]
