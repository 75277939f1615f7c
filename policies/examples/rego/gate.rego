# Rego v1 (regopy): conftest's conventions, `deny` and `warn` sets in `package gate`.
# The input document is described in docs/rego-input.schema.json.
package gate

# Known-exploited vulnerabilities in packages the image added itself.
deny contains msg if {
	some finding in input.findings
	finding.known_exploited != null
	finding.layer != "inherited"
	msg := sprintf("%s in %s is exploited in the wild (CISA KEV since %s)", [finding.id, finding.purl, finding.known_exploited.date_added])
}

# An image with no operating system detected is usually a broken scan, or scratch on purpose.
warn contains msg if {
	input.sbom.os == null
	msg := "no operating system detected"
}

# Vulnerabilities rated 9.0 or more that nobody can fix yet.
warn contains msg if {
	some finding in input.findings
	finding.score >= 9
	not finding.fix_available
	msg := sprintf("%s (CVSS %v) in %s has no fix yet", [finding.id, finding.score, finding.purl])
}
