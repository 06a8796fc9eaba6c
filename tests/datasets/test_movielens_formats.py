import gzip

from datasets.movielens_formats import write_formats


def test_the_other_formats_hold_the_same_rows_written_their_way(tmp_path):
    source = tmp_path / "ml-100k"
    source.mkdir()
    (source / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                          "196\t242\t3\t881250949\n")
    (source / "ml-100k.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                         "242\tMisérables, Les\t1995\tDrama Musical\n7\tUntitled\t\tDrama\n")
    (source / "ml-100k.user").write_text("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                                         "196\t49\tM\twriter\t55105\n")
    paths = write_formats(source, tmp_path / "out")
    assert paths["csv/ratings.csv"].read_bytes() == b"userId,movieId,rating,timestamp\r\n196,242,3,881250949\r\n"
    movies_csv = 'movieId,title,genres\r\n242,"Misérables, Les (1995)",Drama|Musical\r\n7,Untitled,Drama\r\n'
    assert paths["csv/movies.csv"].read_bytes() == movies_csv.encode()
    assert paths["dat/ratings.dat"].read_bytes() == b"196::242::3::881250949\n"
    movies_dat = "242::Misérables, Les (1995)::Drama|Musical\n7::Untitled::Drama\n"
    assert paths["dat/movies.dat"].read_bytes() == movies_dat.encode("latin-1")
    assert paths["dat/users.dat"].read_bytes() == b"196::M::49::writer::55105\n"
    assert gzip.decompress(paths["json/reviews.json.gz"].read_bytes()) == (
        b'{"reviewerID": "196", "asin": "242", "overall": 3.0, "reviewTime": "1997-12-04 15:55:49"}\n')
    assert gzip.decompress(paths["json/meta.json.gz"].read_bytes()).decode() == (
        '{"asin": "242", "title": "Mis\\u00e9rables, Les (1995)", "categories": ["Drama", "Musical"]}\n'
        '{"asin": "7", "title": "Untitled", "categories": ["Drama"]}\n')
