"""The S3 backend's pure parts: part sizes, tail-state format, copy plans, error mapping."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from filehub.errors import FilehubError, InsufficientStorage, StorageUnavailable, UploadNotFound
from filehub.storage.s3_client import translate
from filehub.storage.s3_layout import (
    MAX_OBJECT_SIZE,
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    MiB,
    TailState,
    copy_plan,
    decode_state,
    encode_state,
    part_size_for,
)

EIGHT_MIB = 8 * MiB


@pytest.mark.parametrize(
    "length, expected",
    [
        (0, EIGHT_MIB),
        (1, EIGHT_MIB),
        (MAX_PARTS * EIGHT_MIB, EIGHT_MIB),
        (MAX_PARTS * EIGHT_MIB + 1, 9 * MiB),  # ceil(length / 10,000) rounded up to a MiB
        (1 << 40, 105 * MiB),
        (MAX_OBJECT_SIZE, 525 * MiB),
    ],
)
def test_part_size_grows_with_the_length(length: int, expected: int) -> None:
    size = part_size_for(length, EIGHT_MIB)
    assert size == expected
    assert -(-length // size) <= MAX_PARTS and MIN_PART <= size <= MAX_PART


def test_part_size_is_never_below_the_s3_minimum() -> None:
    assert part_size_for(10, 1) == MIN_PART


@pytest.mark.parametrize("end, tail", [(0, 0), (3, 3), (2 * MIN_PART, 0), (2 * MIN_PART + 7, 7)])
def test_tail_state_round_trip(end: int, tail: int) -> None:
    etags = [f'"{n:032x}"' for n in range(end // MIN_PART)]
    body = encode_state(TailState(list(etags), bytearray(b"t" * tail)))
    state = decode_state(bytearray(body), end, MIN_PART)
    assert state.etags == etags and state.tail == b"t" * tail


def test_tail_state_after_the_last_short_part_has_no_tail() -> None:
    body = encode_state(TailState(['"a"', '"b"'], bytearray()))
    assert decode_state(bytearray(body), MIN_PART + 5, MIN_PART).etags == ['"a"', '"b"']


@pytest.mark.parametrize(
    "body, end",
    [
        (b"not a state", 3),
        (bytes(encode_state(TailState([], bytearray(b"abc")))), 4),  # tail shorter than offset
        (bytes(encode_state(TailState([], bytearray()))), MIN_PART),  # a part's ETag is missing
    ],
)
def test_damaged_or_mismatched_tail_state_is_refused(body: bytes, end: int) -> None:
    with pytest.raises(FilehubError):
        decode_state(bytearray(body), end, MIN_PART)


def test_copy_plan_copies_each_partial_as_a_part() -> None:
    sizes = [MIN_PART, MIN_PART + 1, 3]
    assert copy_plan(sizes, sum(sizes)) == [(0, 0, MIN_PART), (1, 0, MIN_PART + 1), (2, 0, 3)]


def test_copy_plan_skips_empty_partials_and_allows_a_small_last_one() -> None:
    assert copy_plan([0, MIN_PART, 0, 1, 0], MIN_PART + 1) == [(1, 0, MIN_PART), (3, 0, 1)]


def test_copy_plan_refuses_a_small_partial_before_the_last() -> None:
    assert copy_plan([1, MIN_PART], MIN_PART + 1) is None


def test_copy_plan_splits_big_partials_into_equal_ranges() -> None:
    big = 600 * MiB + 1
    plan = copy_plan([big, 2], big + 2)
    assert plan is not None
    ranges = [(start, end) for source, start, end in plan if source == 0]
    assert ranges[0][0] == 0 and ranges[-1][1] == big and len(ranges) == 3
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(MIN_PART <= end - start <= MAX_PART for start, end in ranges)


def test_copy_plan_refuses_more_than_ten_thousand_parts() -> None:
    sizes = [MIN_PART] * (MAX_PARTS + 1)
    assert copy_plan(sizes, sum(sizes)) is None


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "exc, expected",
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), StorageUnavailable),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), StorageUnavailable),
        (client_error("NoSuchKey", 404), UploadNotFound),
        (client_error("NoSuchUpload", 404), UploadNotFound),
        (client_error("InternalError", 500), StorageUnavailable),
        (client_error("SlowDown", 503), StorageUnavailable),
        (client_error("AccessDenied", 403), StorageUnavailable),
        (client_error("NoSuchBucket", 404), StorageUnavailable),
        (client_error("XMinioStorageFull", 507), InsufficientStorage),
    ],
)
def test_s3_errors_become_filehub_errors(exc: Exception, expected: type[FilehubError]) -> None:
    error = translate(exc, "GetObject")  # type: ignore[arg-type]
    assert type(error) is expected
    if expected is StorageUnavailable:
        assert error.status == 503 and error.headers["Retry-After"]


def test_an_unexpected_s3_refusal_is_a_500_with_a_safe_message() -> None:
    error = translate(client_error("InvalidArgument", 400), "UploadPart")
    assert type(error) is FilehubError and error.status == 500
    assert "InvalidArgument" not in error.message
