"""Sources turn what the user holds into Records. They never decode pixels and never judge."""

from leakcheck.sources.folder import IMAGE_EXTENSIONS, FolderListing, list_folder

__all__ = ["IMAGE_EXTENSIONS", "FolderListing", "list_folder"]
