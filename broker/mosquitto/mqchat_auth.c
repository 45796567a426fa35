/*
 * mqchat's authentication and authorization for Mosquitto 2.0 (plugin API v5).
 *
 * The same rules as the embedded broker's plugins (broker/plugins.py, broker/acl.py),
 * read from the same place: the server's SQLite store, opened read-only. So a user added
 * or a token rotated is seen by the very next CONNECT, and presence is visible exactly
 * while two users share a conversation, with nothing to copy into the broker.
 *
 * - CONNECT: username = user id, password = token, whose SHA-256 must equal the stored
 *   hash (constant-time); the user must not be disabled; the client id must be `<user>`
 *   or `<user>:<tag>`. The backend's account is checked against its secret file.
 * - PUBLISH: a user only to `chat/u/<me>/{send,receipt,typing,sync,presence}`; the
 *   backend only to `chat/u/<user>/in/<kind>` and `presence/<user>`. A client's RETAIN
 *   flag is cleared: only the backend keeps retained messages.
 * - SUBSCRIBE: a user to filters inside `chat/u/<me>/in/#` and to `presence/<user>` for
 *   itself and for users it shares a conversation with; the backend to the request topics.
 * - Delivery: presence of another user is re-checked for every message, so a
 *   subscription carries nothing once the last shared conversation ends.
 *
 * Options: `database` (path of mqchat.db), `backend_username`, `backend_password_file`.
 * Any database error refuses (fails closed) and is logged.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define MAX_USER_ID 32
#define MAX_TAG 32
#define MAX_SECRET 256
#define BUSY_TIMEOUT_MS 200

static const char *const CLIENT_KINDS[] = {"send", "receipt", "typing", "sync", "presence"};
static const char *const INBOX_KINDS[] = {"ack", "msg", "receipt", "typing", "sync", "error"};
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static mosquitto_plugin_id_t *plugin_id;
static sqlite3 *db;
static sqlite3_stmt *token_query;
static sqlite3_stmt *shares_query;
static char backend_username[MAX_USER_ID + 1] = "_mqchat";
static char backend_secret[MAX_SECRET + 1];

/* ---- identifiers and topics (backend/ids.py, backend/topics.py) ---- */

static bool is_user_id(const char *value, size_t length)
{
	if(length < 1 || length > MAX_USER_ID) return false;
	for(size_t i = 0; i < length; i++){
		char c = value[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if(!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
	}
	return true;
}

static bool is_tag(const char *value)
{
	size_t length = strlen(value);
	if(length < 1 || length > MAX_TAG) return false;
	for(size_t i = 0; i < length; i++){
		char c = value[i];
		if(!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
				|| c == '_' || c == '-')) return false;
	}
	return true;
}

/* `<user>` or `<user>:<tag>`. */
static bool client_id_belongs_to(const char *client_id, const char *user)
{
	size_t length = strlen(user);
	if(strncmp(client_id, user, length) != 0) return false;
	if(client_id[length] == '\0') return true;
	return client_id[length] == ':' && is_tag(client_id + length + 1);
}

static bool is_one_of(const char *value, const char *const *names, size_t count)
{
	for(size_t i = 0; i < count; i++){
		if(strcmp(value, names[i]) == 0) return true;
	}
	return false;
}

/* `chat/u/<user>/<rest>`: the user level's bounds and `rest`, or false. */
static bool split_user_topic(const char *topic, const char **user, size_t *user_length,
		const char **rest)
{
	static const char root[] = "chat/u/";
	if(strncmp(topic, root, sizeof(root) - 1) != 0) return false;
	*user = topic + sizeof(root) - 1;
	const char *slash = strchr(*user, '/');
	if(slash == NULL) return false;
	*user_length = (size_t)(slash - *user);
	*rest = slash + 1;
	return true;
}

static bool same_user(const char *user, size_t user_length, const char *account)
{
	return strlen(account) == user_length && strncmp(user, account, user_length) == 0;
}

/* `chat/u/<user>/<kind>` with a request kind; `user` may be `+` when `allow_wildcard`. */
static bool is_client_topic(const char *topic, const char *account, bool allow_wildcard)
{
	const char *user, *kind;
	size_t length;
	if(!split_user_topic(topic, &user, &length, &kind)) return false;
	if(!is_one_of(kind, CLIENT_KINDS, COUNT(CLIENT_KINDS))) return false;
	if(account != NULL) return same_user(user, length, account);
	return is_user_id(user, length) || (allow_wildcard && length == 1 && user[0] == '+');
}

/* `chat/u/<user>/in/<kind>` for a valid user. */
static bool is_inbox_topic(const char *topic)
{
	const char *user, *rest;
	size_t length;
	if(!split_user_topic(topic, &user, &length, &rest)) return false;
	return is_user_id(user, length) && strncmp(rest, "in/", 3) == 0
		&& is_one_of(rest + 3, INBOX_KINDS, COUNT(INBOX_KINDS));
}

/* `presence/<user>`: the user, or NULL. */
static const char *presence_user(const char *topic)
{
	static const char root[] = "presence/";
	if(strncmp(topic, root, sizeof(root) - 1) != 0) return NULL;
	const char *user = topic + sizeof(root) - 1;
	return is_user_id(user, strlen(user)) ? user : NULL;
}

/* Is `filter` well formed and inside `chat/u/<account>/in/#`? */
static bool is_inbox_filter_of(const char *filter, const char *account)
{
	const char *user, *rest;
	size_t length;
	if(!split_user_topic(filter, &user, &length, &rest)) return false;
	if(!same_user(user, length, account)) return false;
	if(strcmp(rest, "in") == 0) return true;  /* `in/#` matches `in` itself */
	if(strncmp(rest, "in/", 3) != 0) return false;
	return mosquitto_sub_topic_check(rest) == MOSQ_ERR_SUCCESS;
}

/* ---- the store ---- */

static bool open_store(const char *path)
{
	if(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: cannot open %s: %s", path, sqlite3_errmsg(db));
		return false;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return true;
}

/* Prepared on first use: the server may create the schema after the broker starts. */
static sqlite3_stmt *statement(sqlite3_stmt **slot, const char *sql)
{
	if(*slot == NULL && sqlite3_prepare_v2(db, sql, -1, slot, NULL) != SQLITE_OK){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: %s", sqlite3_errmsg(db));
		*slot = NULL;
	}
	return *slot;
}

static bool token_is_valid(const char *user, const char *token)
{
	sqlite3_stmt *query = statement(&token_query,
		"SELECT token_hash, disabled FROM users WHERE id = ?");
	if(query == NULL) return false;
	bool valid = false;
	sqlite3_bind_text(query, 1, user, -1, SQLITE_STATIC);
	int rc = sqlite3_step(query);
	if(rc == SQLITE_ROW){
		unsigned char digest[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)token, strlen(token), digest);
		const void *stored = sqlite3_column_blob(query, 0);
		valid = sqlite3_column_bytes(query, 0) == SHA256_DIGEST_LENGTH
			&& CRYPTO_memcmp(stored, digest, SHA256_DIGEST_LENGTH) == 0
			&& sqlite3_column_int(query, 1) == 0;
	}else if(rc != SQLITE_DONE){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: token lookup: %s", sqlite3_errmsg(db));
	}
	sqlite3_reset(query);
	return valid;
}

static bool shares_conversation(const char *user, const char *other)
{
	sqlite3_stmt *query = statement(&shares_query,
		"SELECT 1 FROM members AS mine JOIN members AS theirs ON theirs.conv = mine.conv"
		" WHERE mine.user = ? AND theirs.user = ?"
		" AND mine.left_seq IS NULL AND theirs.left_seq IS NULL LIMIT 1");
	if(query == NULL) return false;
	sqlite3_bind_text(query, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(query, 2, other, -1, SQLITE_STATIC);
	int rc = sqlite3_step(query);
	if(rc != SQLITE_ROW && rc != SQLITE_DONE){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: presence lookup: %s", sqlite3_errmsg(db));
	}
	sqlite3_reset(query);
	return rc == SQLITE_ROW;
}

/* ---- the rules ---- */

static bool is_backend(const char *username)
{
	return username != NULL && strcmp(username, backend_username) == 0;
}

static bool may_see_presence(const char *account, const char *other)
{
	return strcmp(account, other) == 0 || shares_conversation(account, other);
}

static bool user_may(const char *account, const char *topic, int access)
{
	const char *other;
	switch(access){
		case MOSQ_ACL_WRITE:
			return is_client_topic(topic, account, false);
		case MOSQ_ACL_SUBSCRIBE:
			if(is_inbox_filter_of(topic, account)) return true;
			other = presence_user(topic);
			return other != NULL && may_see_presence(account, other);
		case MOSQ_ACL_READ:
			if(is_inbox_topic(topic)) return is_inbox_filter_of(topic, account);
			other = presence_user(topic);
			return other != NULL && may_see_presence(account, other);
		case MOSQ_ACL_UNSUBSCRIBE:
			return true;
		default:
			return false;
	}
}

static bool backend_may(const char *topic, int access)
{
	switch(access){
		case MOSQ_ACL_WRITE:
			return is_inbox_topic(topic) || presence_user(topic) != NULL;
		case MOSQ_ACL_SUBSCRIBE:
			return is_client_topic(topic, NULL, true) || strcmp(topic, "_mqchat/connections") == 0;
		case MOSQ_ACL_READ:
			return is_client_topic(topic, NULL, false);
		case MOSQ_ACL_UNSUBSCRIBE:
			return true;
		default:
			return false;
	}
}

/* ---- callbacks ---- */

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *auth = event_data;
	const char *client_id = mosquitto_client_id(auth->client);
	(void)event;
	(void)userdata;

	if(auth->username == NULL || auth->password == NULL || client_id == NULL) return MOSQ_ERR_AUTH;
	if(is_backend(auth->username)){
		size_t length = strlen(auth->password);
		bool same = backend_secret[0] != '\0' && length == strlen(backend_secret)
			&& CRYPTO_memcmp(auth->password, backend_secret, length) == 0;
		return same ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
	}
	if(!is_user_id(auth->username, strlen(auth->username))) return MOSQ_ERR_AUTH;
	if(!client_id_belongs_to(client_id, auth->username)){
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqchat: refused client id '%s' for user '%s'",
			client_id, auth->username);
		return MOSQ_ERR_AUTH;
	}
	return token_is_valid(auth->username, auth->password) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *check = event_data;
	const char *username = mosquitto_client_username(check->client);
	(void)event;
	(void)userdata;

	if(username == NULL || check->topic == NULL) return MOSQ_ERR_ACL_DENIED;
	bool allowed = is_backend(username) ? backend_may(check->topic, check->access)
		: user_may(username, check->topic, check->access);
	return allowed ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

/* A client's retained request would reach the backend again, as if new, on every
 * resubscription: only the backend's publications keep RETAIN. */
static int on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *message = event_data;
	(void)event;
	(void)userdata;
	if(!is_backend(mosquitto_client_username(message->client))) message->retain = false;
	return MOSQ_ERR_SUCCESS;
}

/* ---- plugin interface ---- */

static bool read_secret(const char *path)
{
	FILE *file = fopen(path, "r");
	if(file == NULL){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: cannot read %s", path);
		return false;
	}
	bool ok = fgets(backend_secret, sizeof(backend_secret), file) != NULL;
	fclose(file);
	backend_secret[strcspn(backend_secret, "\r\n")] = '\0';
	return ok && backend_secret[0] != '\0';
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
		struct mosquitto_opt *options, int option_count)
{
	const char *db_path = NULL, *secret_path = NULL;
	(void)user_data;
	plugin_id = identifier;
	for(int i = 0; i < option_count; i++){
		if(strcmp(options[i].key, "database") == 0){
			db_path = options[i].value;
		}else if(strcmp(options[i].key, "backend_password_file") == 0){
			secret_path = options[i].value;
		}else if(strcmp(options[i].key, "backend_username") == 0
				&& strlen(options[i].value) <= MAX_USER_ID){
			strcpy(backend_username, options[i].value);
		}
	}
	if(db_path == NULL || secret_path == NULL){
		mosquitto_log_printf(MOSQ_LOG_ERR, "mqchat: plugin_opt_database and plugin_opt_backend_password_file are required");
		return MOSQ_ERR_INVAL;
	}
	if(!read_secret(secret_path) || !open_store(db_path)) return MOSQ_ERR_INVAL;
	int rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
	if(rc == MOSQ_ERR_SUCCESS){
		rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
	}
	if(rc == MOSQ_ERR_SUCCESS){
		rc = mosquitto_callback_register(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
	}
	return rc;
}

int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *options, int option_count)
{
	(void)user_data;
	(void)options;
	(void)option_count;
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_MESSAGE, on_message, NULL);
	sqlite3_finalize(token_query);
	sqlite3_finalize(shares_query);
	sqlite3_close(db);
	return MOSQ_ERR_SUCCESS;
}
