from jobs.delimited import read_lines


def test_read_lines_drops_headers_and_blank_lines_and_trims_the_cr(spark, tmp_path):
    # Two files of one source, CRLF line endings, each with the header; a blank CRLF line and an empty line.
    (tmp_path / "a.csv").write_bytes(b"user,item\r\nu1,i1\r\n\r\nu2,i2\r\n")
    (tmp_path / "b.csv").write_bytes(b"user,item\r\n\nu3,i3 \r\n")
    got = sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=True).collect())
    assert got == ["u1,i1", "u2,i2", "u3,i3 "]  # only the CR is trimmed; a trailing space is data


def test_read_lines_without_header_keeps_the_first_line(spark, tmp_path):
    (tmp_path / "a.tsv").write_bytes(b"1\t2\n3\t4\n")
    assert sorted(row["raw"] for row in read_lines(spark, str(tmp_path), header=False).collect()) == ["1\t2", "3\t4"]
