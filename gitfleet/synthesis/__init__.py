"""Synthesis: what landing does with a conflict, and the gate every landing passes.

A ladder of resolvers is tried per conflicted file (:mod:`.ladder`): the owner's
``.gitattributes`` read from the target's tree (:mod:`.attributes`), a three-way merge of
JSON/YAML/TOML by value (:mod:`.structured`), both-sides-inserted lines (:mod:`.lines`).
Whatever a rung proposes, and every landing whether it conflicted or not, must pass the
gate (:mod:`.gate`): no new conflict markers, still parses, no new duplicate keys,
definitions or case labels, no added line lost.

The rungs above them (``claude``, with the anthropic SDK, :mod:`.claude`) and the git
merge driver (:mod:`.driver`) live here too. This package depends only on the standard
library, pygit2, tree-sitter, the structured text libraries, anthropic (an extra) and
:mod:`gitfleet.errors` / :mod:`gitfleet.config` / :mod:`gitfleet.git`: never on landing,
the gate or the fleet, which call it.
"""
