import zipfile

import pytest

from datasets.movielens import (
    FILES,
    INTER_BODY_SHA256,
    MEMBER_DIR,
    DatasetIntegrityError,
    DownloadError,
    download_wheel,
    extract_movielens_100k,
    fetch_movielens_100k,
)


def fake_wheel(path, inter_body=b"1\t2\t3\t4\n"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{MEMBER_DIR}/ml-100k.inter", b"user_id:token\titem_id:token\n" + inter_body)
        archive.writestr(f"{MEMBER_DIR}/ml-100k.user", b"user_id:token\n1\n")
        archive.writestr(f"{MEMBER_DIR}/ml-100k.item", b"item_id:token\n2\n")
    return path


def test_a_wheel_whose_ratings_differ_from_u_data_is_refused_and_nothing_is_kept(tmp_path):
    dest = tmp_path / "ml"
    with pytest.raises(DatasetIntegrityError, match=f"ml-100k.inter body .* expected {INTER_BODY_SHA256}"):
        extract_movielens_100k(fake_wheel(tmp_path / "recbole-1.2.1-py3-none-any.whl"), dest)
    assert not dest.exists()


def test_a_corrupted_cached_copy_is_refused(tmp_path):
    for name in FILES:
        (tmp_path / name).write_bytes(b"header\nnot movielens\n")
    with pytest.raises(DatasetIntegrityError, match="delete the cached copy"):
        fetch_movielens_100k(tmp_path)


def test_a_failed_download_says_what_failed(tmp_path):
    # Port 9 (discard) on loopback refuses at once: the error must name the package, not hang or pass.
    with pytest.raises(DownloadError, match=r"could not download recbole==1\.2\.1"):
        download_wheel(tmp_path, ("--no-index", "--find-links", str(tmp_path / "empty")))


@pytest.mark.network
def test_real_movielens_100k_is_fetched_verified_and_complete(tmp_path):
    dest = fetch_movielens_100k(tmp_path / "ml")
    ratings = (dest / "ml-100k.inter").read_text().splitlines()[1:]
    assert len(ratings) == 100_000
    assert len({line.split("\t")[0] for line in ratings}) == 943
    assert len({line.split("\t")[1] for line in ratings}) == 1682
    assert len((dest / "ml-100k.user").read_text().splitlines()) == 1 + 943
    fetch_movielens_100k(dest)  # cached: verified again, not downloaded
