#!/usr/bin/env node
/*
 * An independent judge of smartdc_nb's request signatures: a tiny HTTP server
 * that verifies every request with http-signature 1.4.0, the package (and
 * version) CloudAPI itself verifies with.
 *
 *   node verify-server.js KEYS.json [PORT]
 *
 * KEYS.json is a JSON array of OpenSSH public key lines. A key is looked up by
 * the MD5 fingerprint at the end of the keyId, which must be
 * /<account>/keys/<fp> or /<account>/users/<user>/keys/<fp> (CloudAPI's two
 * forms). The server listens on 127.0.0.1 (port 0 = any free port) and prints
 * one line {"port": N} once it accepts connections.
 *
 * Answers (JSON): GET /--ping -> 200 without a signature (a baseline for
 * benchmarks); anything else -> 200 {"ok": true, keyId, account, user,
 * algorithm, signingString, method, url, bodyLength, bodySha256} when the
 * signature verifies, else 401 {"ok": false, "reason": "..."}.
 */
'use strict';

var crypto = require('crypto');
var fs = require('fs');
var http = require('http');
var httpSignature = require('http-signature');
// sshpk is http-signature's own key parser; take the very copy it uses.
var sshpk = require(require.resolve('sshpk', {paths: [require.resolve('http-signature')]}));

var KEY_ID = /^\/([^/]+)(?:\/users\/([^/]+))?\/keys\/([^/]+)$/;
// node-triton signs exactly these, in this order; require the same.
var SIGNED = ['(request-target)', 'date'];

function loadKeys(file) {
    var byFp = {};
    JSON.parse(fs.readFileSync(file, 'utf8')).forEach(function (line) {
        var key = sshpk.parseKey(line, 'ssh');
        byFp[key.fingerprint('md5').toString('hex')] = key;
    });
    return byFp;
}

function verify(req, keys) {
    var parsed;
    try {
        parsed = httpSignature.parseRequest(req, {clockSkew: 300, headers: SIGNED});
    } catch (err) {
        return {reason: 'unparseable Authorization: ' + err.name + ': ' + err.message};
    }
    if (parsed.params.headers.join(' ') !== SIGNED.join(' ')) {
        return {reason: 'signed headers are "' + parsed.params.headers.join(' ') +
            '", expected "' + SIGNED.join(' ') + '"'};
    }
    var m = KEY_ID.exec(parsed.keyId);
    if (!m) {
        return {reason: 'invalid keyId ' + parsed.keyId};
    }
    var key = keys[m[3]];
    if (!key) {
        return {reason: 'unknown key ' + m[3]};
    }
    var ok;
    try {
        ok = httpSignature.verifySignature(parsed, key);
    } catch (err) {
        return {reason: 'verification error: ' + err.message};
    }
    if (!ok) {
        return {reason: 'signature does not verify (' + parsed.algorithm + ', key ' + m[3] + ')'};
    }
    return {ok: true, keyId: parsed.keyId, account: m[1], user: m[2] || null,
        algorithm: parsed.params.algorithm, signingString: parsed.signingString};
}

function main() {
    var keys = loadKeys(process.argv[2]);
    var server = http.createServer(function (req, res) {
        var chunks = [];
        req.on('data', function (c) { chunks.push(c); });
        req.on('end', function () {
            var body = Buffer.concat(chunks);
            var result;
            if (req.method === 'GET' && req.url === '/--ping') {
                result = {ok: true, ping: 'pong'};
            } else {
                result = verify(req, keys);
                result.ok = Boolean(result.ok);
            }
            result.method = req.method;
            result.url = req.url;
            result.bodyLength = body.length;
            result.bodySha256 = crypto.createHash('sha256').update(body).digest('hex');
            var out = JSON.stringify(result);
            res.writeHead(result.ok ? 200 : 401, {
                'Content-Type': 'application/json',
                'Content-Length': Buffer.byteLength(out)
            });
            res.end(out);
        });
    });
    server.keepAliveTimeout = 30000;
    server.listen(Number(process.argv[3] || 0), '127.0.0.1', function () {
        process.stdout.write(JSON.stringify({port: server.address().port}) + '\n');
    });
    process.on('SIGTERM', function () { process.exit(0); });
}

main();
