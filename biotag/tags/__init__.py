"""Tags: the tag library (tags and heads saved as safetensors + JSON), the stage-1 tags biotag ships, nearest
vocabulary tokens."""

from biotag.tags.library import TagLibrary, TagSpec, init_tag_vector

__all__ = ["TagLibrary", "TagSpec", "init_tag_vector"]
