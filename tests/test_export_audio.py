"""The pure core of `rt export wav`: records in, tracks of int16 samples out."""

from __future__ import annotations

import numpy as np
import pytest
from audio_fixtures import (
    G711_RATE,
    PCM_RATE,
    SessionBuilder,
    g711,
    g711_decoded,
    pcm16,
    sine,
    split,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from recorder.audio import (
    G711_TABLES,
    AudioWarning,
    SessionAudio,
    assistant_track,
    collect_audio,
    interpolate,
    mix_track,
    response_tracks,
    user_track,
)
from recorder.session import decode_line


def collect(builder: SessionBuilder) -> tuple[SessionAudio, list[AudioWarning]]:
    warnings: list[AudioWarning] = []
    records = [(n, decode_line(line)) for n, line in enumerate(builder.lines, start=1)]
    return collect_audio(records, "s.jsonl", warnings.append), warnings


def messages(warnings: list[AudioWarning]) -> list[str]:
    return [str(w) for w in warnings]


@pytest.mark.parametrize("ga", [True, False], ids=["ga", "beta"])
def test_user_and_assistant_samples_equal_what_was_sent(ga):
    user = sine(440, 2000)
    first, second = sine(880, 1500), sine(660, 700)
    b = SessionBuilder(ga=ga)
    b.session_created()
    b.appends(0.2, split(pcm16(user), [1920, 960, 1440]), 0.04)
    b.response_created(3.0, "resp_1")
    b.deltas(3.1, "resp_1", "item_1", split(pcm16(first), [4800, 2400]), 0.01)
    b.response_done(3.5, "resp_1")
    b.response_created(5.0, "resp_2")
    b.deltas(5.1, "resp_2", "item_2", split(pcm16(second), [1200]), 0.01)
    b.response_done(6.0, "resp_2")
    audio, warnings = collect(b)
    assert warnings == []
    user_out = user_track(audio)
    assistant_out = assistant_track(audio)
    assert user_out is not None and assistant_out is not None
    assert user_out.rate == assistant_out.rate == PCM_RATE
    assert user_out.samples.dtype == np.int16
    np.testing.assert_array_equal(user_out.samples, user)
    np.testing.assert_array_equal(assistant_out.samples, np.concatenate([first, second]))
    per_response = response_tracks(audio)
    assert [t.name for t in per_response] == ["assistant.resp_1", "assistant.resp_2"]
    np.testing.assert_array_equal(per_response[0].samples, first)
    np.testing.assert_array_equal(per_response[1].samples, second)


def test_g711_tables_equal_libsndfile():
    every_byte = bytes(range(256))
    for law in ("ulaw", "alaw"):
        np.testing.assert_array_equal(G711_TABLES[law], g711_decoded(every_byte, law))


@pytest.mark.parametrize("ga", [True, False], ids=["ga", "beta"])
@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_g711_decodes_like_libsndfile_at_8khz(ga, law):
    said = g711(sine(300, 1000, rate=G711_RATE), law)
    heard = g711(sine(500, 600, rate=G711_RATE), law)
    b = SessionBuilder(ga=ga)
    b.session_created(input=law, output=law)
    b.appends(0.1, split(said, [160, 320]), 0.02)
    b.response_created(1.5, "resp_1")
    b.deltas(1.6, "resp_1", "item_1", split(heard, [240]), 0.01)
    audio, warnings = collect(b)
    assert warnings == []
    user_out, assistant_out = user_track(audio), assistant_track(audio)
    assert user_out is not None and assistant_out is not None
    assert user_out.rate == assistant_out.rate == G711_RATE
    np.testing.assert_array_equal(user_out.samples, g711_decoded(said, law))
    np.testing.assert_array_equal(assistant_out.samples, g711_decoded(heard, law))


def test_truncation_keeps_what_the_user_heard_per_item():
    spoken = sine(880, 3000)
    other = sine(440, 500)
    b = SessionBuilder(ga=False)
    b.session_created()
    b.response_created(1.0, "resp_1")
    b.deltas(1.1, "resp_1", "item_a", split(pcm16(spoken), [4800]), 0.01)
    b.deltas(1.9, "resp_1", "item_b", split(pcm16(other), [4800]), 0.01)
    b.response_done(2.0, "resp_1", "cancelled", "turn_detected")
    b.truncate(2.1, "item_a", 1000)  # the client's request...
    b.truncated(2.2, "item_a", 1280)  # ...and the server's word, which wins
    audio, warnings = collect(b)
    assert warnings == []
    full = assistant_track(audio)
    assert full is not None
    np.testing.assert_array_equal(full.samples, np.concatenate([spoken, other]))
    track = assistant_track(audio, heard=True)
    assert track is not None
    assert track.frames == 1280 * 24 + len(other)  # 1 280 ms x 48 B/ms = 61 440 bytes
    np.testing.assert_array_equal(track.samples[: 1280 * 24], spoken[: 1280 * 24])
    np.testing.assert_array_equal(track.samples[1280 * 24 :], other)


def test_client_truncate_is_used_when_the_server_did_not_confirm():
    spoken = sine(880, 2000)
    b = SessionBuilder()
    b.session_created()
    b.response_created(1.0, "resp_1")
    b.deltas(1.1, "resp_1", "item_a", split(pcm16(spoken), [9600]), 0.01)
    b.truncate(2.1, "item_a", 250)
    audio, _ = collect(b)
    track = assistant_track(audio, heard=True)
    assert track is not None
    np.testing.assert_array_equal(track.samples, spoken[:6000])


def test_mix_places_each_side_at_its_time():
    said = sine(440, 1000)
    answer = sine(880, 2000)
    b = SessionBuilder()
    b.session_created()
    b.appends(0.5, split(pcm16(said), [960]), 0.02)  # 20 ms every 20 ms: real time
    b.response_created(1.9, "resp_1")
    b.deltas(2.25, "resp_1", "item_1", split(pcm16(answer), [4800]), 0.01)
    audio, _ = collect(b)
    mix = mix_track(audio)
    assert mix is not None and mix.channels == 2 and mix.rate == PCM_RATE
    left, right = mix.samples[:, 0], mix.samples[:, 1]
    assert mix.frames == 54000 + len(answer)
    np.testing.assert_array_equal(left[12000 : 12000 + len(said)], said)  # 0.5 s x 24 000
    np.testing.assert_array_equal(right[54000:], answer)  # 2.25 s x 24 000
    assert not left[:12000].any() and not left[12000 + len(said) :].any()
    assert not right[:54000].any()


def test_mix_lays_a_burst_of_appends_back_to_back_then_follows_the_clock():
    burst = sine(440, 1000)
    later = sine(330, 200)
    b = SessionBuilder()
    b.session_created()
    b.appends(1.0, split(pcm16(burst), [4800]), 0.001)  # a second of audio in 10 ms
    b.append(1.5, pcm16(later))  # arrives while the burst still plays: waits for it
    b.append(3.0, pcm16(later))  # after a pause: at its own time
    audio, _ = collect(b)
    mix = mix_track(audio)
    assert mix is not None
    left = mix.samples[:, 0]
    np.testing.assert_array_equal(left[24000:48000], burst)
    np.testing.assert_array_equal(left[48000:52800], later)
    assert not left[52800:72000].any()
    np.testing.assert_array_equal(left[72000:76800], later)
    assert mix.frames == 76800


def test_mix_response_waits_for_the_previous_one_and_truncation_shortens_it():
    first, second = sine(880, 2000), sine(660, 1000)
    b = SessionBuilder()
    b.session_created()
    b.response_created(0.9, "resp_1")
    b.deltas(1.0, "resp_1", "item_1", split(pcm16(first), [9600]), 0.01)
    b.response_created(1.4, "resp_2")
    b.deltas(1.5, "resp_2", "item_2", split(pcm16(second), [9600]), 0.01)
    b.truncated(1.6, "item_1", 800)  # heard 0.8 s: resp_2 starts at 1.8 s, not 3.0 s
    audio, _ = collect(b)
    mix = mix_track(audio)
    assert mix is not None
    right = mix.samples[:, 1]
    np.testing.assert_array_equal(right[24000:43200], first[:19200])
    np.testing.assert_array_equal(right[43200:67200], second)
    assert mix.frames == 67200
    assert not mix.samples[:, 0].any()


def test_odd_inputs_are_reported_by_line_and_the_rest_kept():
    said = sine(440, 400)
    answer = sine(880, 400)
    pieces = split(pcm16(answer), [9600])
    b = SessionBuilder()
    b.session_created()
    odd_append = b.append(0.1, pcm16(said) + b"\x01")
    bad_b64 = b.append(0.2, "@@not base64@@")
    no_audio = b.frame(0.3, "client", {"type": "input_audio_buffer.append"})
    b.response_created(1.0, "resp_1")
    b.delta(1.1, "resp_1", "item_1", pieces[0])
    bad_delta = b.delta(1.2, "resp_1", "item_1", "QUJD!")
    corrupt = b.raw('{"kind":"frame","seq":99,"t":1.25,"from":"ser')
    b.delta(1.3, "resp_1", "item_1", pieces[1])
    done = b.response_done(1.4, "resp_1", "cancelled", "turn_detected")
    warnings: list[AudioWarning] = []
    lines = [(n, line) for n, line in enumerate(b.lines, start=1) if n != corrupt]
    audio = collect_audio([(n, decode_line(s)) for n, s in lines], "s.jsonl", warnings.append)
    assert [w.line for w in warnings] == [odd_append, bad_b64, no_audio, bad_delta, done]
    text = messages(warnings)
    assert text[1].startswith(f"s.jsonl:{bad_b64}: input_audio_buffer.append 'audio' is not valid")
    assert text[3].startswith(f"s.jsonl:{bad_delta}: response.output_audio.delta 'delta' is not")
    assert text[0] == (
        f"s.jsonl:{odd_append}: input_audio_buffer.append has an odd number of bytes (19201) "
        "for pcm16; dropped the last one"
    )
    assert "resp_1 was cancelled (turn_detected)" in text[4] and "0.400 s" in text[4]
    user_out, assistant_out = user_track(audio), assistant_track(audio)
    assert user_out is not None and assistant_out is not None
    np.testing.assert_array_equal(user_out.samples, said)
    np.testing.assert_array_equal(assistant_out.samples, answer)


def test_formats_follow_requests_and_the_server():
    said = sine(300, 500, rate=G711_RATE)
    b = SessionBuilder()
    b.session_created(input="pcm16", output="pcm16")
    b.session_update(0.1, input="ulaw", output="ulaw")
    # Appends sent right after the request, before the server confirms it, are already µ-law.
    b.appends(0.11, split(g711(said, "ulaw"), [160]), 0.005)
    b.session_updated(0.3, input="ulaw", output="ulaw")
    b.session_update(0.4, input="alaw", event_id="evt_rejected")
    b.frame(
        0.45,
        "server",
        {"type": "error", "error": {"type": "invalid_request_error", "event_id": "evt_rejected"}},
    )
    # the rejected request is withdrawn: µ-law still
    b.appends(0.6, split(g711(said, "ulaw"), [160]), 0.02)
    audio, warnings = collect(b)
    assert [chunk.format.encoding for chunk in audio.user] == ["ulaw"] * 50
    assert messages(warnings) == []
    track = user_track(audio)
    assert track is not None and track.rate == G711_RATE
    expected = g711_decoded(g711(said, "ulaw"), "ulaw")
    np.testing.assert_array_equal(track.samples, np.concatenate([expected, expected]))


def test_a_request_sent_before_session_created_still_applies_after_it():
    said = g711(sine(300, 200, rate=G711_RATE), "alaw")
    b = SessionBuilder(header=False)
    b.session_update(0.001, input="alaw")
    b.session_created(0.01, input="pcm16")
    b.appends(0.02, split(said, [160]), 0.005)
    b.session_updated(0.1, input="alaw")
    audio, warnings = collect(b)
    assert warnings == []
    track = user_track(audio)
    assert track is not None and track.rate == G711_RATE
    np.testing.assert_array_equal(track.samples, g711_decoded(said, "alaw"))


def test_a_response_can_override_the_output_format():
    answer = g711(sine(500, 500, rate=G711_RATE), "alaw")
    for ga in (True, False):
        b = SessionBuilder(ga=ga)
        b.session_created(output="pcm16")
        b.response_created(1.0, "resp_echoed", output="alaw")
        b.deltas(1.1, "resp_echoed", "item_1", split(answer, [400]), 0.01)
        b.response_create(2.0, output="alaw")  # an old beta server that does not echo it
        b.response_created(2.1, "resp_asked")
        b.deltas(2.2, "resp_asked", "item_2", split(answer, [400]), 0.01)
        audio, warnings = collect(b)
        assert warnings == []
        tracks = response_tracks(audio)
        assert [t.rate for t in tracks] == [G711_RATE, G711_RATE]
        for track in tracks:
            np.testing.assert_array_equal(track.samples, g711_decoded(answer, "alaw"))


def test_a_rate_change_inside_a_track_interpolates_up_to_the_highest_rate():
    narrow = sine(300, 500, rate=G711_RATE)
    wide = sine(440, 500)
    b = SessionBuilder()
    b.session_created(input="ulaw")
    b.appends(0.1, split(g711(narrow, "ulaw"), [160]), 0.02)
    b.session_update(0.7, input="pcm16")
    b.session_updated(0.75, input="pcm16")
    changed = b.appends(0.8, split(pcm16(wide), [960]), 0.02)[0]
    audio, warnings = collect(b)
    assert messages(warnings) == [
        f"s.jsonl:{changed}: user audio changes from G.711 µ-law at 8000 Hz to pcm16 at 24000 Hz"
    ]
    track = user_track(audio)
    assert track is not None and track.rate == PCM_RATE and track.interpolated_from == (8000,)
    decoded = g711_decoded(g711(narrow, "ulaw"), "ulaw")
    assert track.frames == 3 * len(decoded) + len(wide)
    np.testing.assert_array_equal(track.samples[: 3 * len(decoded) : 3], decoded)
    np.testing.assert_array_equal(track.samples[3 * len(decoded) :], wide)


def test_mix_of_8khz_user_and_24khz_assistant_is_written_at_24khz():
    said = sine(300, 400, rate=G711_RATE)
    answer = sine(880, 400)
    b = SessionBuilder()
    b.session_created(input="ulaw", output="pcm16")
    b.appends(0.5, split(g711(said, "ulaw"), [160]), 0.02)
    b.response_created(1.0, "resp_1")
    b.deltas(1.0, "resp_1", "item_1", [pcm16(answer)], 0.01)
    audio, _ = collect(b)
    mix = mix_track(audio)
    assert mix is not None and mix.rate == PCM_RATE and mix.interpolated_from == (8000,)
    decoded = g711_decoded(g711(said, "ulaw"), "ulaw")
    np.testing.assert_array_equal(mix.samples[12000 : 12000 + 3 * len(decoded) : 3, 0], decoded)
    np.testing.assert_array_equal(mix.samples[24000:, 1], answer)


def test_interpolation_is_linear_and_keeps_source_samples():
    source = np.array([0, 300, -300, 30000], dtype=np.int16)
    up = interpolate(source, 8000, 24000)
    np.testing.assert_array_equal(
        up, [0, 100, 200, 300, 100, -100, -300, 9800, 19900, 30000, 30000, 30000]
    )


def test_no_audio_gives_no_tracks():
    b = SessionBuilder()
    b.session_created()
    b.response_created(1.0, "resp_1")
    audio, _ = collect(b)
    assert (user_track(audio), assistant_track(audio), mix_track(audio)) == (None, None, None)
    assert response_tracks(audio) == []


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(min_value=1, max_value=4000), min_size=1, max_size=6))
def test_any_chunking_gives_the_same_samples(sizes):
    said = sine(440, 300)
    b = SessionBuilder(header=False)
    b.appends(0.0, split(pcm16(said), [2 * s for s in sizes]), 0.0)  # faster than real time
    audio, warnings = collect(b)
    assert warnings == []
    track = user_track(audio)
    assert track is not None
    np.testing.assert_array_equal(track.samples, said)
    mix = mix_track(audio)
    assert mix is not None
    np.testing.assert_array_equal(mix.samples[:, 0], said)


def test_decoded_pcm_is_native_int16():
    b = SessionBuilder(header=False)
    b.append(0.0, pcm16(np.array([1, -2, 32767, -32768], dtype=np.int16)))
    audio, _ = collect(b)
    track = user_track(audio)
    assert track is not None
    assert track.samples.dtype == np.dtype(np.int16)
    assert track.samples.tolist() == [1, -2, 32767, -32768]
