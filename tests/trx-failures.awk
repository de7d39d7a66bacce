# Prints each failed test of a .trx file with its message and the first lines of its stack trace.
function unescape(s) { gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "'", s); gsub(/&amp;/, "\\&", s); return s }
function attr(line, name,   m) { if (match(line, " " name "=\"[^\"]*\"")) { m = substr(line, RSTART + length(name) + 3, RLENGTH - length(name) - 4); return unescape(m) } return "" }
/<UnitTestResult / { failed = (attr($0, "outcome") == "Failed"); if (failed) print "FAILED " attr($0, "testName"); inmsg = 0; instack = 0; stack = 0 }
failed && /<Message>/ { inmsg = 1; sub(/.*<Message>/, "") }
failed && inmsg { line = $0; done = sub(/<\/Message>.*/, "", line); print "  " unescape(line); if (done) inmsg = 0; next }
failed && /<StackTrace>/ { instack = 1; sub(/.*<StackTrace>/, "") }
failed && instack { line = $0; done = sub(/<\/StackTrace>.*/, "", line); if (stack++ < 6) print "  " unescape(line); if (done) instack = 0; next }
/<\/UnitTestResult>/ { failed = 0 }
