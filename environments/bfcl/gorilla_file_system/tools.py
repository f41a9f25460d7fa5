"""GorillaFileSystem tools: a small shell-like file system over the `nodes` graph.

Each tool is one public method of BFCL's GorillaFileSystem with the same parameters,
results and error dicts. Where the original raises (a bug), the tool raises ToolError, so
the call fails and rolls back just as the original's call errors. Quirks of the original
are kept on purpose (see findings.json); comments point them out where they matter.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from eigencore.audit.code_fixes import is_repaired
from environments.bfcl.gorilla_file_system import tree
from environments.bfcl.gorilla_file_system.tree import Node
from environments.contract import Db, ToolError, tool

Result = dict[str, Any]

_INVALID_NAME_CHARACTERS = '|/\\?%*:"><'


def _valid_name(name: str) -> bool:
    return not any(c in name for c in _INVALID_NAME_CHARACTERS)


def _navigate_to_directory(db: Db, path: str | None) -> Node | None:
    """The directory a path names, from the current one (relative) or the root ("/...")."""
    if path is None or path == ".":
        return tree.current(db)
    if path == "/":
        return tree.root(db)
    at = tree.current(db) if not path.startswith("/") else tree.root(db)
    # No ".." handling: a path is a chain of subdirectory names.
    for name in path.strip("/").split("/"):
        item = tree.get_item(db, at, name)
        if item is None or not item.is_directory:
            return None
        at = item
    return at


def _file(db: Db, name: str) -> Node | None:
    item = tree.get_item(db, tree.current(db), name)
    return item if item is not None and item.is_file else None


def _text(item: Node) -> str:
    return item.content or ""


@tool(read_only=True)
def pwd(db: Db) -> Result:
    """Show the path of the current working directory.

    The path starts with the root directory's own name, e.g. "/workspace/documents".
    """
    # The original's loop stops at `dir.name != self.root` (a str against a Directory, never
    # equal), so the root's name is part of the path: "//" at a root named "/".
    path = [d.name for d in tree.ancestors(db, tree.current(db))]
    return {"current_working_directory": "/" + "/".join(reversed(path))}


@tool(read_only=True)
def ls(db: Db, a: bool = False) -> Result:
    """List the names in the current directory, in creation order.

    Args:
        a: Also list hidden names (those starting with a dot).
    """
    contents = tree.names(db, tree.current(db))
    if not a:
        contents = [item for item in contents if not item.startswith(".")]
    return {"current_directory_content": contents}


@tool
def cd(db: Db, folder: str) -> Result:
    """Change the current working directory.

    Args:
        folder: ".." for the parent, "/" for the root, or the name of a subdirectory of the
            current directory (a "/"-separated chain of names also works; a leading "/"
            starts from the root).
    """
    current = tree.current(db)
    if folder == "..":
        if current.parent_id is None:
            # Only the root has no parent, and the original then finds `root == current`;
            # its other branch ("cd: ..: No such directory") cannot be reached.
            return {"error": "Cuurent directory is already the root. Cannot go back."}
        tree.set_current(db, tree.node(db, current.parent_id))
        tree.collect_garbage(db)
        return {}
    target = _navigate_to_directory(db, folder)
    if target is None:
        return {
            "error": f"cd: {folder}: No such directory. You cannot use path to change directory."
        }
    tree.set_current(db, target)
    tree.collect_garbage(db)
    return {"current_working_directory": target.name}


@tool(idempotent=True)
def mkdir(db: Db, dir_name: str) -> Result | None:
    """Create an empty directory in the current directory. Returns nothing on success.

    Args:
        dir_name: Name of the new directory; must not contain any of | / \\ ? % * : " > <.
    """
    if not _valid_name(dir_name):
        return {"error": f"mkdir: cannot create directory '{dir_name}': Invalid character"}
    current = tree.current(db)
    if tree.get_item(db, current, dir_name) is not None:
        return {"error": f"mkdir: cannot create directory '{dir_name}': File exists"}
    tree.add_directory(db, current, dir_name)
    return None


@tool(idempotent=True)
def touch(db: Db, file_name: str) -> Result | None:
    """Create an empty file in the current directory. Returns nothing on success.

    Args:
        file_name: Name of the new file; must not contain any of | / \\ ? % * : " > <.
    """
    if not _valid_name(file_name):
        return {"error": f"touch: cannot touch '{file_name}': Invalid character"}
    current = tree.current(db)
    if tree.get_item(db, current, file_name) is not None:
        return {"error": f"touch: cannot touch '{file_name}': File exists"}
    tree.add_file(db, current, file_name)
    return None


@tool(destructive=True, idempotent=True)
def echo(db: Db, content: str, file_name: str | None = None) -> Result | None:
    """Print text, or write it to a file of the current directory (replacing its content).

    Returns the text as terminal output when no file name is given (or it is empty), and
    nothing when the text was written; a missing file is created.

    Args:
        content: The text to print or write.
        file_name: The file to write to; omit to print instead.
    """
    if file_name is None:
        return {"terminal_output": content}
    if not _valid_name(file_name):
        return {"error": f"echo: cannot touch '{file_name}': Invalid character"}
    if not file_name:
        return {"terminal_output": content}
    current = tree.current(db)
    item = tree.get_item(db, current, file_name)
    if item is None:
        tree.add_file(db, current, file_name, content)
    elif item.is_directory:
        # The original calls `Directory._write`, which does not exist.
        raise ToolError("'Directory' object has no attribute '_write'")
    else:
        db.execute("UPDATE nodes SET content = ? WHERE id = ?", (content, item.id))
    return None


@tool(read_only=True)
def cat(db: Db, file_name: str) -> Result:
    """Show the content of a file in the current directory.

    Args:
        file_name: Name of the file.
    """
    if not _valid_name(file_name):
        return {"error": f"cat: '{file_name}': Invalid character"}
    item = tree.get_item(db, tree.current(db), file_name)
    if item is None:
        return {"error": f"cat: {file_name}: No such file or directory"}
    if item.is_directory:
        return {"error": f"cat: {file_name}: Is a directory"}
    return {"file_content": _text(item)}


@tool(read_only=True)
def find(db: Db, path: str = ".", name: str | None = None) -> Result:
    """List, recursively, every file and directory below the current directory whose name
    contains a given text.

    Results are "<path>/<relative path>", depth first in creation order.

    Args:
        path: Prefix for the reported paths (the search always starts at the current
            directory; a trailing "/" is dropped).
        name: Text the item's name must contain; omit to list everything.
    """
    matches: list[str] = []

    def visit(item_name: str, item: Node, base_path: str) -> str:
        item_path = f"{base_path}/{item_name}"
        if name is None or name in item_name:
            matches.append(item_path)
        return item_path

    # The original ignores `path` for the search itself (see findings.json).
    tree.walk(db, tree.current(db), visit, path.rstrip("/"))
    return {"matches": matches}


@tool(read_only=True)
def wc(db: Db, file_name: str, mode: str = "l") -> Result:
    """Count the lines, words or characters of a file in the current directory.

    Args:
        file_name: Name of the file.
        mode: "l" for lines, "w" for words (whitespace separated), "c" for characters.
    """
    if mode not in ["l", "w", "c"]:
        return {"error": f"wc: invalid mode '{mode}'"}
    item = _file(db, file_name)
    if item is not None:
        content = _text(item)
        if mode == "l":
            return {"count": len(content.splitlines()), "type": "lines"}
        if mode == "w":
            return {"count": len(content.split()), "type": "words"}
        return {"count": len(content), "type": "characters"}
    return {"error": f"wc: {file_name}: No such file or directory"}


@tool(read_only=True)
def sort(db: Db, file_name: str) -> Result:
    """Show the lines of a file in the current directory in sorted order (file unchanged).

    Args:
        file_name: Name of the file.
    """
    item = _file(db, file_name)
    if item is not None:
        return {"sorted_content": "\n".join(sorted(_text(item).splitlines()))}
    return {"error": f"sort: {file_name}: No such file or directory"}


@tool(read_only=True)
def grep(db: Db, file_name: str, pattern: str) -> Result:
    """Show the lines of a file in the current directory that contain a text.

    Args:
        file_name: Name of the file.
        pattern: The text to look for (plain substring, case-sensitive).
    """
    item = _file(db, file_name)
    if item is not None:
        lines = [line for line in _text(item).splitlines() if pattern in line]
        return {"matching_lines": lines}
    return {"error": f"grep: {file_name}: No such file or directory"}


@tool(read_only=True)
def du(db: Db, human_readable: bool = False) -> Result:
    """Report the total size (UTF-8 bytes of all file contents) of the current directory.

    Args:
        human_readable: Report in B/KB/MB/... with two decimals instead of plain bytes.
    """
    sizes: list[int] = []

    def visit(_name: str, item: Node, _context: None) -> None:
        if item.is_file:
            sizes.append(len(_text(item).encode("utf-8")))

    tree.walk(db, tree.current(db), visit, None)
    total: int | float = sum(sizes)
    if human_readable:
        for unit in ["B", "KB", "MB", "GB", "TB"]:
            if total < 1024:
                size_str = f"{total:.2f} {unit}"
                break
            total /= 1024
        else:
            size_str = f"{total:.2f} PB"
    else:
        size_str = f"{total} bytes"
    return {"disk_usage": size_str}


@tool(read_only=True)
def tail(
    db: Db,
    file_name: str,
    lines: Annotated[int, Field(strict=True)] = 10,
) -> Result:
    """Show the last lines of a file in the current directory.

    Args:
        file_name: Name of the file.
        lines: How many lines to show (the whole file when it has fewer).
    """
    item = _file(db, file_name)
    if item is not None:
        content = _text(item).splitlines()
        if lines > len(content):
            lines = len(content)
        # Python slicing as in the original: 0 shows everything, -n skips the first n lines.
        return {"last_lines": "\n".join(content[-lines:])}
    return {"error": f"tail: {file_name}: No such file or directory"}


@tool(read_only=True)
def diff(db: Db, file_name1: str, file_name2: str) -> Result:
    """Compare two files of the current directory line by line.

    Each differing line pair is reported as "- <line of file 1>\\n+ <line of file 2>";
    lines beyond the shorter file's end are not compared.

    Args:
        file_name1: Name of the first file.
        file_name2: Name of the second file.
    """
    file1, file2 = _file(db, file_name1), _file(db, file_name2)
    if file1 is not None and file2 is not None:
        content1, content2 = _text(file1).splitlines(), _text(file2).splitlines()
        diff_lines = [
            f"- {line1}\n+ {line2}"
            for line1, line2 in zip(content1, content2, strict=False)
            if line1 != line2
        ]
        return {"diff_lines": "\n".join(diff_lines)}
    return {"error": f"diff: {file_name1} or {file_name2}: No such file or directory"}


@tool
def mv(db: Db, source: str, destination: str) -> Result:
    """Move an item of the current directory into a subdirectory, or rename it.

    Args:
        source: Name of the file or directory to move.
        destination: Name of an existing subdirectory to move into, or else the new name.
    """
    current = tree.current(db)
    item = tree.get_item(db, current, source)
    if item is None:
        return {"error": f"mv: cannot move '{source}': No such file or directory"}
    if "/" in destination:
        return {
            "error": "mv: no path allowed in destination. Only file name and folder name is "
            "supported for this operation."
        }
    dest_item = tree.get_item(db, current, destination)
    if dest_item is not None:
        if not dest_item.is_directory:
            return {"error": f"mv: cannot move '{source}' to '{destination}': Not a directory"}
        if tree.get_item(db, dest_item, source) is not None:
            return {
                "error": f"mv: cannot move '{source}' to '{destination}/{source}': File exists"
            }
        tree.pop(db, current, source)
        _place(db, dest_item, source, item, share=True)
        tree.collect_garbage(db)
        return {"result": f"'{source}' moved to '{destination}/{source}'"}
    tree.pop(db, current, source)
    _place(db, current, destination, item, share=True)
    tree.collect_garbage(db)
    return {"result": f"'{source}' moved to '{destination}'"}


def _place(db: Db, directory: Node, name: str, item: Node, *, share: bool) -> None:
    """Recreate `item` as `directory/name`, as mv (share) and cp (shallow copy) do.

    A file becomes a new file with the same content. A directory becomes a new Directory
    object whose parent is `directory` and whose contents dict is the old one (mv) or a
    shallow copy of it (cp): the items themselves are shared, and subdirectories keep their
    old parent pointers (see findings.json).
    """
    if item.is_file:
        tree.add_file(db, directory, name, _text(item))
        return
    # The new directory is added first, then given the contents: when `directory` is `item`
    # itself, the dict that is shared or copied already holds the new directory.
    new = tree.add_directory(db, directory, name)
    if share:
        tree.share_contents(db, new, item)
    else:
        tree.copy_contents(db, new, item)


@tool(destructive=True, idempotent=True)
def rm(db: Db, file_name: str) -> Result:
    """Remove a file or a directory (with everything in it) from the current directory.

    Args:
        file_name: Name of the file or directory.
    """
    current = tree.current(db)
    if tree.get_item(db, current, file_name) is None:
        return {"error": f"rm: cannot remove '{file_name}': No such file or directory"}
    tree.pop(db, current, file_name)
    tree.collect_garbage(db)
    return {"result": f"'{file_name}' removed"}


@tool(destructive=True, idempotent=True)
def rmdir(db: Db, dir_name: str) -> Result:
    """Remove an empty directory from the current directory.

    Args:
        dir_name: Name of the directory.
    """
    current = tree.current(db)
    item = tree.get_item(db, current, dir_name)
    if item is None:
        return {"error": f"rmdir: cannot remove '{dir_name}': No such file or directory"}
    if not item.is_directory:
        return {"error": f"rmdir: cannot remove '{dir_name}': Not a directory"}
    if tree.items(db, item.listing_id):
        return {"error": f"rmdir: failed to remove '{dir_name}': Directory not empty"}
    tree.pop(db, current, dir_name)
    tree.collect_garbage(db)
    return {"result": f"'{dir_name}' removed"}


@tool
def cp(db: Db, source: str, destination: str) -> Result:
    """Copy an item of the current directory into a subdirectory, or under a new name.

    Args:
        source: Name of the file or directory to copy.
        destination: Name of an existing subdirectory to copy into, or else the copy's name.
    """
    current = tree.current(db)
    item = tree.get_item(db, current, source)
    if item is None:
        return {"error": f"cp: cannot copy '{source}': No such file or directory"}
    if "/" in destination:
        return {
            "error": "cp: don't allow path in destination. Only file name and folder name is "
            "supported for this operation."
        }
    dest_item = tree.get_item(db, current, destination)
    if dest_item is not None:
        if not dest_item.is_directory:
            return {"error": f"cp: cannot copy '{source}' to '{destination}': Not a directory"}
        # The original looks up the key "destination/source", which never names an item
        # created by the tools; a taken name then fails inside `_add_file`/`_add_directory`.
        if tree.get_item(db, dest_item, f"{destination}/{source}") is not None:
            return {
                "error": f"cp: cannot copy '{source}' to '{destination}/{source}': File exists"
            }
        if is_repaired(db, "fs_state") and tree.get_item(db, dest_item, source) is not None:
            # Repaired mode (code_fixes gfs.cp.file_exists): the check the original meant.
            return {
                "error": f"cp: cannot copy '{source}' to '{destination}/{source}': File exists"
            }
        _place(db, dest_item, source, item, share=False)
        return {"result": f"'{source}' copied to '{destination}/{source}'"}
    _place(db, current, destination, item, share=False)
    return {"result": f"'{source}' copied to '{destination}'"}
