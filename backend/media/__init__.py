"""Media uploads: images and voice notes.

Bytes travel over HTTP (`POST /v1/media`, `GET /v1/media/<id>`); messages carry only a
pointer (the media id) and a `media` description. The modules, from pure to I/O:

- `sniff`: which format a file is, from its first bytes.
- `containers`, `webm`: structural checks of the voice containers (pure parsing).
- `images`, `voice`: decoding and validating one file (Pillow, mutagen).
- `storage`: streaming uploads to a temp file, content-addressed files on disk.
- `service`: the upload pipeline and who may read what.
- `cleanup`: removing uploads no message ever used.
"""
