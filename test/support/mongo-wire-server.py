#!/usr/bin/python3
"""A MongoDB-wire-compatible test server for Tessera's contract tests.

No mongod can run on the build machines, so the mongoose adapter is exercised over the real wire
protocol against this script instead: python3-mockupdb speaks the protocol (OP_MSG and the legacy
OP_QUERY handshake), python3-mongomock executes the commands in memory. Run it with Debian's
/usr/bin/python3 (apt-get install python3-mockupdb python3-mongomock).

Behaviour:
  * listens on 127.0.0.1, on a random free port unless --port is given, and prints one line
    `PORT <n>` once ready; exits when stdin closes (the parent test process went away) or on SIGTERM;
  * presents itself as a standalone server (no replica set), maxWireVersion 21 (MongoDB 7.0);
  * executes one command at a time (mockupdb serialises its connection threads on one lock, and every
    command additionally takes COMMAND_LOCK, which the TTL sweeper also takes);
  * errors come back as {ok: 0, errmsg, code, codeName}; duplicate keys are code 11000, reported in
    `writeErrors` for insert/update as the driver expects, top-level for findAndModify;
  * transactions are refused (code 20, like a real standalone): mongomock cannot roll back;
  * TTL indexes (expireAfterSeconds) are honoured by a sweeper every MONGO_WIRE_TTL_SECONDS (default
    60, like mongod's TTL monitor), so tests cannot pass by relying on TTL deletion.
Every query scans the collection: keep test data small.
"""
import argparse
import datetime
import os
import signal
import sys
import threading
import traceback
from collections import OrderedDict

try:
    import mockupdb
    import mongomock
    from bson.int64 import Int64
    from pymongo.errors import DuplicateKeyError, OperationFailure
except ImportError as exc:  # pragma: no cover - reported to the TS launcher
    sys.stderr.write(
        'MongoDB wire test server needs Debian packages python3-mockupdb and python3-mongomock '
        '(apt-get install python3-mockupdb python3-mongomock): %s\n' % exc)
    sys.exit(3)

MAX_WIRE_VERSION = 21
COMMAND_LOCK = threading.RLock()
CLIENT = mongomock.MongoClient()
TTL = {}  # (db, collection) -> {index name: (field, seconds)}
MORE_TO_COME = 2  # OP_MSG flag bit: the client expects no reply

IGNORED_FIELDS = {'$db', 'lsid', '$clusterTime', '$readPreference', 'apiVersion', 'apiStrict',
                  'apiDeprecationErrors', 'maxTimeMS', 'comment', 'writeConcern', 'readConcern',
                  'bypassDocumentValidation', '$audit', 'let'}


class CommandError(Exception):
    def __init__(self, code, code_name, errmsg):
        super().__init__(errmsg)
        self.code = code
        self.code_name = code_name
        self.errmsg = errmsg


def unsupported(what):
    return CommandError(2, 'BadValue', 'not supported by the Tessera MongoDB wire test server: ' + what)


def now_utc():
    return datetime.datetime.utcnow()


def sort_spec(sort):
    if not sort:
        return None
    spec = []
    for key, direction in sort.items():
        if isinstance(direction, dict):
            raise unsupported('$meta sort on ' + key)
        spec.append((key, int(direction)))
    return spec


def is_operator_update(update):
    if isinstance(update, list):
        raise unsupported('pipeline-style updates')
    keys = list(update.keys())
    if keys and all(k.startswith('$') for k in keys):
        return True
    if any(k.startswith('$') for k in keys):
        raise CommandError(9, 'FailedToParse', 'mixed operator and replacement update document')
    return False


def check_plain(cmd, name):
    for field in ('collation', 'arrayFilters', 'hint'):
        value = cmd.get(field)
        if value:
            raise unsupported('%s in %s' % (field, name))


def dup_error(db, coll, exc):
    return 'E11000 duplicate key error collection: %s.%s (%s)' % (db, coll, exc)


def cursor_reply(db, coll, docs, first=True):
    return {'cursor': {'id': Int64(0), 'ns': '%s.%s' % (db, coll),
                       'firstBatch' if first else 'nextBatch': list(docs)}, 'ok': 1}


def project(doc, fields):
    """Top-level inclusion/exclusion projection for findAndModify's `fields`."""
    if doc is None or not fields:
        return doc
    include = {k for k, v in fields.items() if v not in (0, False)}
    exclude = {k for k, v in fields.items() if v in (0, False)}
    if any('.' in k or isinstance(v, dict) for k, v in fields.items()):
        raise unsupported('nested projection in findAndModify')
    if include - {'_id'}:
        return OrderedDict((k, v) for k, v in doc.items()
                           if k in include or (k == '_id' and '_id' not in exclude))
    return OrderedDict((k, v) for k, v in doc.items() if k not in exclude)


# ---------------------------------------------------------------------------------------------------
# commands

def cmd_hello(db, cmd, state):
    return {'ismaster': True, 'isWritablePrimary': True, 'helloOk': True,
            'maxBsonObjectSize': 16 * 1024 * 1024, 'maxMessageSizeBytes': 48000000,
            'maxWriteBatchSize': 100000, 'localTime': now_utc(),
            'logicalSessionTimeoutMinutes': 30, 'connectionId': state['connection_id'],
            'minWireVersion': 0, 'maxWireVersion': MAX_WIRE_VERSION, 'readOnly': False, 'ok': 1}


def cmd_build_info(db, cmd, state):
    return {'version': '7.0.0', 'versionArray': [7, 0, 0, 0], 'gitVersion': 'tessera-wire-test-server',
            'maxBsonObjectSize': 16 * 1024 * 1024, 'bits': 64, 'ok': 1}


def cmd_ok(db, cmd, state):
    return {'ok': 1}


def cmd_insert(db, cmd, state):
    name = cmd['insert']
    coll = CLIENT[db][name]
    ordered = cmd.get('ordered', True)
    n = 0
    errors = []
    for index, doc in enumerate(cmd.get('documents', [])):
        try:
            coll.insert_one(doc)
            n += 1
        except DuplicateKeyError as exc:
            errors.append({'index': index, 'code': 11000, 'errmsg': dup_error(db, name, exc)})
            if ordered:
                break
    reply = {'n': n, 'ok': 1}
    if errors:
        reply['writeErrors'] = errors
    return reply


def cmd_update(db, cmd, state):
    name = cmd['update']
    coll = CLIENT[db][name]
    ordered = cmd.get('ordered', True)
    n = modified = 0
    upserted = []
    errors = []
    for index, spec in enumerate(cmd.get('updates', [])):
        check_plain(spec, 'update')
        q, u = spec.get('q', {}), spec['u']
        upsert, multi = bool(spec.get('upsert')), bool(spec.get('multi'))
        try:
            if is_operator_update(u):
                res = (coll.update_many if multi else coll.update_one)(q, u, upsert=upsert)
            else:
                if multi:
                    raise CommandError(9, 'FailedToParse', 'multi update with a replacement document')
                res = coll.replace_one(q, u, upsert=upsert)
        except DuplicateKeyError as exc:
            errors.append({'index': index, 'code': 11000, 'errmsg': dup_error(db, name, exc)})
            if ordered:
                break
            continue
        n += res.matched_count
        modified += res.modified_count
        if res.upserted_id is not None:
            n += 1
            upserted.append({'index': index, '_id': res.upserted_id})
    reply = {'n': n, 'nModified': modified, 'ok': 1}
    if upserted:
        reply['upserted'] = upserted
    if errors:
        reply['writeErrors'] = errors
    return reply


def cmd_delete(db, cmd, state):
    coll = CLIENT[db][cmd['delete']]
    n = 0
    for spec in cmd.get('deletes', []):
        check_plain(spec, 'delete')
        q = spec.get('q', {})
        res = coll.delete_one(q) if spec.get('limit', 0) == 1 else coll.delete_many(q)
        n += res.deleted_count
    return {'n': n, 'ok': 1}


def cmd_find(db, cmd, state):
    check_plain(cmd, 'find')
    name = cmd['find']
    coll = CLIENT[db][name]
    limit = abs(int(cmd.get('limit') or 0))
    cursor = coll.find(cmd.get('filter') or {}, projection=cmd.get('projection') or None)
    sort = sort_spec(cmd.get('sort'))
    if sort:
        cursor = cursor.sort(sort)
    if cmd.get('skip'):
        cursor = getattr(cursor, 'skip')(int(cmd['skip']))  # MongoDB's skip operator
    if limit:
        cursor = cursor.limit(limit)
    # Everything goes in the first batch (cursor id 0): test data is small.
    return cursor_reply(db, name, cursor)


def cmd_get_more(db, cmd, state):
    raise CommandError(43, 'CursorNotFound', 'cursor id %s not found' % cmd.get('getMore'))


def cmd_kill_cursors(db, cmd, state):
    return {'cursorsKilled': [], 'cursorsNotFound': list(cmd.get('cursors', [])),
            'cursorsAlive': [], 'cursorsUnknown': [], 'ok': 1}


def cmd_find_and_modify(db, cmd, state):
    check_plain(cmd, 'findAndModify')
    name = cmd.get('findAndModify', cmd.get('findandmodify'))
    coll = CLIENT[db][name]
    query = cmd.get('query') or {}
    before = coll.find_one(query, sort=sort_spec(cmd.get('sort')))
    if cmd.get('remove'):
        if before is not None:
            coll.delete_one({'_id': before['_id']})
        return {'lastErrorObject': {'n': 1 if before is not None else 0},
                'value': project(before, cmd.get('fields')), 'ok': 1}
    update = cmd.get('update')
    if update is None:
        raise CommandError(9, 'FailedToParse', 'Either an update or remove=true must be specified')
    operators = is_operator_update(update)
    try:
        if before is not None:
            if operators:
                coll.update_one({'_id': before['_id']}, update)
            else:
                replacement = OrderedDict(update)
                replacement['_id'] = before['_id']
                coll.replace_one({'_id': before['_id']}, replacement)
            after = coll.find_one({'_id': before['_id']})
            leo = {'n': 1, 'updatedExisting': True}
        elif cmd.get('upsert'):
            res = (coll.update_one if operators else coll.replace_one)(query, update, upsert=True)
            after = coll.find_one({'_id': res.upserted_id})
            leo = {'n': 1, 'updatedExisting': False, 'upserted': res.upserted_id}
        else:
            after = None
            leo = {'n': 0, 'updatedExisting': False}
    except DuplicateKeyError as exc:
        raise CommandError(11000, 'DuplicateKey', dup_error(db, name, exc))
    value = after if cmd.get('new') else before
    return {'lastErrorObject': leo, 'value': project(value, cmd.get('fields')), 'ok': 1}


def cmd_count(db, cmd, state):
    coll = CLIENT[db][cmd['count']]
    kwargs = {}
    if cmd.get('skip'):
        kwargs['skip'] = int(cmd['skip'])
    if cmd.get('limit'):
        kwargs['limit'] = abs(int(cmd['limit']))
    return {'n': coll.count_documents(cmd.get('query') or {}, **kwargs), 'ok': 1}


def cmd_aggregate(db, cmd, state):
    check_plain(cmd, 'aggregate')
    name = cmd['aggregate']
    if not isinstance(name, str):
        raise unsupported('database-level aggregate')
    if cmd.get('explain'):
        raise unsupported('explain')
    return cursor_reply(db, name, CLIENT[db][name].aggregate(list(cmd.get('pipeline', []))))


def cmd_distinct(db, cmd, state):
    coll = CLIENT[db][cmd['distinct']]
    return {'values': coll.distinct(cmd['key'], cmd.get('query') or {}), 'ok': 1}


def collection_exists(db, name):
    return name in CLIENT[db].list_collection_names()


def cmd_create_indexes(db, cmd, state):
    name = cmd['createIndexes']
    coll = CLIENT[db][name]
    created = not collection_exists(db, name)
    before = len(coll.index_information()) if not created else 1
    for spec in cmd.get('indexes', []):
        keys = [(k, v) for k, v in spec['key'].items()]
        options = {k: v for k, v in spec.items() if k not in ('key', 'v', 'background')}
        try:
            coll.create_index(keys, **options)
        except DuplicateKeyError as exc:
            raise CommandError(11000, 'DuplicateKey', dup_error(db, name, exc))
        if 'expireAfterSeconds' in spec and len(keys) == 1:
            TTL.setdefault((db, name), {})[options.get('name') or keys[0][0]] = (
                keys[0][0], float(spec['expireAfterSeconds']))
    return {'createdCollectionAutomatically': created, 'numIndexesBefore': before,
            'numIndexesAfter': len(coll.index_information()), 'ok': 1}


def cmd_list_indexes(db, cmd, state):
    name = cmd['listIndexes']
    if not collection_exists(db, name):
        raise CommandError(26, 'NamespaceNotFound', 'ns does not exist: %s.%s' % (db, name))
    out = []
    for index_name, info in CLIENT[db][name].index_information().items():
        entry = OrderedDict([('v', info.get('v', 2)), ('key', OrderedDict(info['key'])),
                             ('name', index_name)])
        for k, v in info.items():
            if k not in ('v', 'key'):
                entry[k] = v
        out.append(entry)
    return cursor_reply(db, name, out)


def cmd_drop_indexes(db, cmd, state):
    name = cmd['dropIndexes']
    coll = CLIENT[db][name]
    index = cmd.get('index')
    if index == '*':
        coll.drop_indexes()
        TTL.pop((db, name), None)
    elif isinstance(index, str):
        coll.drop_index(index)
        TTL.get((db, name), {}).pop(index, None)
    else:
        raise unsupported('dropIndexes by key pattern')
    return {'ok': 1}


def cmd_create(db, cmd, state):
    name = cmd['create']
    if collection_exists(db, name):
        raise CommandError(48, 'NamespaceExists', 'Collection %s.%s already exists.' % (db, name))
    CLIENT[db].create_collection(name)
    return {'ok': 1}


def cmd_list_collections(db, cmd, state):
    wanted = (cmd.get('filter') or {}).get('name')
    out = []
    for name in CLIENT[db].list_collection_names():
        if wanted is not None and wanted != name:
            continue
        out.append({'name': name, 'type': 'collection', 'options': {},
                    'info': {'readOnly': False}, 'idIndex': {'v': 2, 'key': {'_id': 1}, 'name': '_id_'}})
    return cursor_reply(db, '$cmd.listCollections', out)


def cmd_drop(db, cmd, state):
    name = cmd['drop']
    CLIENT[db].drop_collection(name)
    TTL.pop((db, name), None)
    return {'ns': '%s.%s' % (db, name), 'ok': 1}


def cmd_drop_database(db, cmd, state):
    CLIENT.drop_database(db)
    for key in [k for k in TTL if k[0] == db]:
        TTL.pop(key, None)
    return {'dropped': db, 'ok': 1}


def cmd_list_databases(db, cmd, state):
    names = CLIENT.list_database_names()
    if cmd.get('nameOnly'):
        return {'databases': [{'name': n} for n in names], 'ok': 1}
    return {'databases': [{'name': n, 'sizeOnDisk': 0, 'empty': False} for n in names],
            'totalSize': 0, 'ok': 1}


def cmd_no_transactions(db, cmd, state):
    raise CommandError(20, 'IllegalOperation',
                       'Transaction numbers are only allowed on a replica set member or mongos')


COMMANDS = {
    'hello': cmd_hello, 'ismaster': cmd_hello, 'isMaster': cmd_hello,
    'ping': cmd_ok, 'buildInfo': cmd_build_info, 'buildinfo': cmd_build_info,
    'endSessions': cmd_ok, 'killAllSessions': cmd_ok, 'refreshSessions': cmd_ok,
    'getParameter': cmd_ok, 'getCmdLineOpts': lambda db, cmd, state: {'argv': [], 'parsed': {}, 'ok': 1},
    'connectionStatus': lambda db, cmd, state: {'authInfo': {'authenticatedUsers': [],
                                                             'authenticatedUserRoles': []}, 'ok': 1},
    'insert': cmd_insert, 'update': cmd_update, 'delete': cmd_delete,
    'find': cmd_find, 'getMore': cmd_get_more, 'killCursors': cmd_kill_cursors,
    'findAndModify': cmd_find_and_modify, 'findandmodify': cmd_find_and_modify,
    'count': cmd_count, 'aggregate': cmd_aggregate, 'distinct': cmd_distinct,
    'createIndexes': cmd_create_indexes, 'listIndexes': cmd_list_indexes,
    'dropIndexes': cmd_drop_indexes, 'create': cmd_create, 'listCollections': cmd_list_collections,
    'drop': cmd_drop, 'dropDatabase': cmd_drop_database, 'listDatabases': cmd_list_databases,
    'commitTransaction': cmd_no_transactions, 'abortTransaction': cmd_no_transactions,
}


def execute(db, cmd, state):
    name = next(iter(cmd), None)
    handler = COMMANDS.get(name)
    if handler is None:
        raise CommandError(59, 'CommandNotFound', "no such command: '%s'" % name)
    if 'txnNumber' in cmd or cmd.get('startTransaction') or cmd.get('autocommit') is False:
        cmd_no_transactions(db, cmd, state)
    return handler(db, cmd, state)


CONNECTIONS = {}


def handle(request):
    cmd = request.doc
    db = cmd.get('$db') or (request.namespace or 'admin').split('.')[0]
    state = CONNECTIONS.setdefault(id(request._client), {'connection_id': len(CONNECTIONS) + 1})
    with COMMAND_LOCK:
        try:
            reply = execute(db, cmd, state)
        except CommandError as exc:
            reply = {'ok': 0, 'errmsg': exc.errmsg, 'code': exc.code, 'codeName': exc.code_name}
        except DuplicateKeyError as exc:
            reply = {'ok': 0, 'errmsg': str(exc), 'code': 11000, 'codeName': 'DuplicateKey'}
        except OperationFailure as exc:
            reply = {'ok': 0, 'errmsg': str(exc), 'code': exc.code or 2, 'codeName': 'OperationFailure'}
        except Exception as exc:  # mongomock NotImplementedError and friends
            if os.environ.get('MONGO_WIRE_DEBUG'):
                traceback.print_exc()
            reply = {'ok': 0, 'errmsg': 'test server: %s: %s' % (type(exc).__name__, exc), 'code': 1,
                     'codeName': 'InternalError'}
    if os.environ.get('MONGO_WIRE_DEBUG'):
        sys.stderr.write('%s %r\n    -> %r\n' % (db, dict(cmd), reply))
    if getattr(request, 'flags', 0) & MORE_TO_COME and isinstance(request, mockupdb.OpMsg):
        return True  # unacknowledged write: no reply expected
    return request.replies(reply)


def ttl_sweeper(interval):
    while True:
        threading.Event().wait(interval)
        with COMMAND_LOCK:
            for (db, name), indexes in list(TTL.items()):
                for field, seconds in indexes.values():
                    cutoff = now_utc() - datetime.timedelta(seconds=seconds)
                    try:
                        CLIENT[db][name].delete_many({field: {'$lte': cutoff}})
                    except Exception:  # keep sweeping other collections
                        traceback.print_exc()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int, default=None)
    args = parser.parse_args()

    server = mockupdb.MockupDB(port=args.port, request_timeout=int(1e6))
    server._address = ('127.0.0.1', args.port)  # mockupdb binds 'localhost'; be explicit
    server.autoresponds(handle)
    port = server.run()

    interval = float(os.environ.get('MONGO_WIRE_TTL_SECONDS', '60'))
    threading.Thread(target=ttl_sweeper, args=(interval,), daemon=True).start()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    sys.stdout.write('PORT %d\n' % port)
    sys.stdout.flush()
    try:
        while sys.stdin.read(4096):
            pass
    except (KeyboardInterrupt, OSError):
        pass
    os._exit(0)


if __name__ == '__main__':
    main()
