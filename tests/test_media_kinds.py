"""The one list of media extensions and the image/video decision used for folders and manifests."""

from deepdetector.media.kinds import MEDIA_EXTENSIONS, is_media_name, media_kind


def test_names_that_decode_when_named_are_listed_in_folders_too():
    for name in ("clip.ts", "CLIP.MTS", "a.m2ts", "photo.heic", "photo.AVIF", "x.jpg", "y.mp4", "z.gif"):
        assert is_media_name(name), name
    for name in ("notes.txt", "archive.zip", "noext", "movie.mp4.part"):
        assert not is_media_name(name), name


def test_the_manifest_kind_wins_over_the_extension():
    assert media_kind("talk.gif") == "video"
    assert media_kind("talk.gif", "image") == "image"
    assert media_kind("face.jpg", "faceswap-video") == "video"
    assert media_kind("clip.mp4", "gan-image") == "image"
    assert media_kind("clip.MP4") == "video"
    assert media_kind("face.png", "") == "image"
    assert media_kind("readme.txt") == "unknown"
    assert all(ext.startswith(".") and ext == ext.lower() for ext in MEDIA_EXTENSIONS)
