"""In-toto attestations: the Statement v1 around a predicate, and builders for the predicates gate makes.

    from gate.attest.statement import build_statement
    from gate.attest.types import resolve_predicate_type
    uri = resolve_predicate_type("cyclonedx")
    statement = build_statement("registry.example/app", "sha256:...", uri, bom)

One module per predicate: :mod:`~gate.attest.cyclonedx`, :mod:`~gate.attest.vuln`,
:mod:`~gate.attest.provenance` (SLSA v1), :mod:`~gate.attest.vsa`, :mod:`~gate.attest.openvex`.
"""
