// libnats behind the JetStream wrapper: library lifetime, connection state, streams, publishing and pull consumers.
#include "platform/jetstream/jetstream.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <thread>

#include "platform/log/log.hpp"

namespace intercab::jetstream {

JetStreamError::JetStreamError(Kind kind, const std::string& message, std::string status_text, int api_error_code)
    : std::runtime_error(message), kind_(kind), status_text_(std::move(status_text)), api_error_code_(api_error_code) {}

namespace {

using std::chrono::milliseconds;
using Kind = JetStreamError::Kind;

// nats_CloseAndWait waits for libnats' own threads; they end within milliseconds once every object is destroyed.
constexpr std::int64_t kLibraryCloseWaitMs = 30000;
constexpr milliseconds kConnectedPollInterval{25};
constexpr milliseconds kCloseFlushTimeout{2000};
constexpr std::chrono::seconds kConsumerCheckInterval{30};

std::int64_t to_nanos(milliseconds duration) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

milliseconds from_nanos(std::int64_t nanos) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::nanoseconds(nanos));
}

template <auto destroy>
struct Destroyer {
  template <typename T>
  void operator()(T* object) const {
    destroy(object);
  }
};
using OptionsPtr = std::unique_ptr<natsOptions, Destroyer<natsOptions_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, Destroyer<natsMsg_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Destroyer<jsPubAck_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Destroyer<jsStreamInfo_Destroy>>;
using ConsumerInfoPtr = std::unique_ptr<jsConsumerInfo, Destroyer<jsConsumerInfo_Destroy>>;
using MetaDataPtr = std::unique_ptr<jsMsgMetaData, Destroyer<jsMsgMetaData_Destroy>>;

Kind kind_of(natsStatus status) {
  switch (status) {
    case NATS_TIMEOUT:
    case NATS_NO_RESPONDERS:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_INSUFFICIENT_BUFFER:  // the reconnect buffer is full
      return Kind::unavailable;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING:
    case NATS_MAX_PAYLOAD:
      return Kind::invalid_argument;
    default:
      return Kind::rejected;
  }
}

// libnats keeps a per-thread description of the last failure ("stream not found", "wrong last sequence: 3"); it
// is added to the message when it says more than the status name.
std::string last_error_detail(natsStatus status) {
  natsStatus last_status = NATS_OK;
  const char* text = nats_GetLastError(&last_status);
  if (last_status != status || text == nullptr || *text == '\0') return {};
  std::string detail(text);
  // Drop the "(js.c:535): " source location libnats puts in front.
  if (detail.front() == '(') {
    if (const auto end = detail.find("): "); end != std::string::npos) detail.erase(0, end + 3);
  }
  if (detail == natsStatus_GetText(status)) return {};
  return detail;
}

[[noreturn]] void fail(const std::string& what, natsStatus status, jsErrCode api_error_code = static_cast<jsErrCode>(0),
                       const std::string& hint = {}) {
  const std::string status_text = natsStatus_GetText(status);
  std::string message = what + ": " + status_text;
  if (auto detail = last_error_detail(status); !detail.empty()) message += " (" + detail + ")";
  if (api_error_code != 0) message += " [JetStream error " + std::to_string(api_error_code) + "]";
  if (!hint.empty()) message += "; " + hint;
  throw JetStreamError(kind_of(status), message, status_text, static_cast<int>(api_error_code));
}

void check(natsStatus status, const std::string& what) {
  if (status != NATS_OK) fail(what, status);
}

[[noreturn]] void fail_invalid(const std::string& message) {
  throw JetStreamError(Kind::invalid_argument, message, natsStatus_GetText(NATS_INVALID_ARG), 0);
}

// Stream and consumer names become subject tokens of the JetStream API.
void require_name(const std::string& what, const std::string& name) {
  if (name.empty()) fail_invalid(what + " is empty");
  if (name.find_first_of(".*> \t\r\n") != std::string::npos) {
    fail_invalid(what + " '" + name + "' contains '.', '*', '>' or white space");
  }
}

// The URL as it may be logged: user names, passwords and tokens are dropped.
std::string display_url(const std::string& urls) {
  std::string result;
  std::size_t start = 0;
  while (start <= urls.size()) {
    auto end = urls.find(',', start);
    if (end == std::string::npos) end = urls.size();
    std::string url = urls.substr(start, end - start);
    const auto scheme_end = url.find("://");
    const auto authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    const auto at = url.find('@', authority_start);
    if (at != std::string::npos && at < url.find('/', authority_start))
      url.erase(authority_start, at + 1 - authority_start);
    if (!result.empty()) result += ',';
    result += url;
    start = end + 1;
  }
  return result;
}

// The servers of a comma-separated URL list. libnats retries a URL it cannot use (no host, unknown scheme)
// forever instead of refusing it, so each must be nats://[credentials@]host[:port] or tls://...
std::vector<std::string> server_urls(const std::string& urls) {
  if (urls.empty()) fail_invalid("NATS url is empty");
  std::vector<std::string> result;
  std::size_t start = 0;
  while (start <= urls.size()) {
    auto end = urls.find(',', start);
    if (end == std::string::npos) end = urls.size();
    std::string url = urls.substr(start, end - start);
    url.erase(0, url.find_first_not_of(" \t"));
    url.erase(url.find_last_not_of(" \t") + 1);
    const bool known_scheme = url.rfind("nats://", 0) == 0 || url.rfind("tls://", 0) == 0;
    const auto host_start = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
    const auto at = url.find('@', host_start);
    const auto host = url.substr(at == std::string::npos ? host_start : at + 1);
    if (!known_scheme || host.empty() || host.front() == ':' || host.front() == '/') {
      fail_invalid("NATS url '" + display_url(url) + "' is not of the form nats://host:port");
    }
    result.push_back(url);
    start = end + 1;
  }
  return result;
}

jsOptions api_options(milliseconds timeout) {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = timeout.count();
  return options;
}

// ---------------------------------------------------------------------------------------------------------------
// Library lifetime: nats_Open with the first connection, nats_CloseAndWait after the last one is destroyed. Every
// libnats object of this file is owned, directly or through shared_ptr chains, by something holding a lease, so
// the library is never closed under a live object.

std::mutex library_mutex;
int library_users = 0;

class LibraryLease {
 public:
  LibraryLease() {
    std::lock_guard lock(library_mutex);
    if (library_users == 0) {
      const natsStatus status = nats_Open(-1);
      if (status != NATS_OK) fail("cannot initialise libnats", status);
    }
    ++library_users;
  }
  ~LibraryLease() {
    std::lock_guard lock(library_mutex);
    if (--library_users > 0) return;
    // Waiting (rather than nats_Close) lets libnats' threads finish their last callbacks, so a Connection created
    // afterwards can open the library again.
    const natsStatus status = nats_CloseAndWait(kLibraryCloseWaitMs);
    if (status != NATS_OK) {
      log::warn("libnats did not shut down cleanly", {{"status", natsStatus_GetText(status)}});
    }
  }
  LibraryLease(const LibraryLease&) = delete;
  LibraryLease& operator=(const LibraryLease&) = delete;
};

// ---------------------------------------------------------------------------------------------------------------
// What the connection callbacks use. libnats may run a callback after natsConnection_Destroy has returned, so this
// belongs to the callbacks: the closed callback, always the last one for a connection, deletes it.

struct ConnectionEvents {
  std::string url;  // display form
  std::string name;
  std::mutex mutex;
  bool ever_connected = false;
  bool in_outage = false;  // between a disconnected and the following reconnected callback
  std::uint64_t reconnects = 0;
  std::chrono::steady_clock::time_point unavailable_since = std::chrono::steady_clock::now();
};

void on_connected(natsConnection*, void* closure) {
  auto* events = static_cast<ConnectionEvents*>(closure);
  {
    std::lock_guard lock(events->mutex);
    events->ever_connected = true;
  }
  log::info("connected to NATS", {{"url", events->url}, {"connection", events->name}});
}

void on_disconnected(natsConnection* connection, void* closure) {
  if (natsConnection_IsClosed(connection)) return;  // our own shutdown, not an outage
  auto* events = static_cast<ConnectionEvents*>(closure);
  {
    std::lock_guard lock(events->mutex);
    events->unavailable_since = std::chrono::steady_clock::now();
    events->in_outage = true;
  }
  log::warn("lost the connection to NATS, reconnecting", {{"url", events->url}, {"connection", events->name}});
}

void on_reconnected(natsConnection*, void* closure) {
  auto* events = static_cast<ConnectionEvents*>(closure);
  {
    std::lock_guard lock(events->mutex);
    ++events->reconnects;
    events->in_outage = false;
  }
  log::info("reconnected to NATS", {{"url", events->url}, {"connection", events->name}});
}

void on_closed(natsConnection*, void* closure) { delete static_cast<ConnectionEvents*>(closure); }

// ---------------------------------------------------------------------------------------------------------------
// Settings <-> libnats configuration

std::vector<const char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<const char*> result;
  result.reserve(strings.size());
  for (const auto& text : strings) result.push_back(text.c_str());
  return result;
}

std::vector<std::string> sorted(std::vector<std::string> strings) {
  std::sort(strings.begin(), strings.end());
  return strings;
}

StreamSettings stream_settings_of(const jsStreamConfig& config) {
  StreamSettings settings;
  settings.name = config.Name == nullptr ? "" : config.Name;
  for (int i = 0; i < config.SubjectsLen; ++i) settings.subjects.emplace_back(config.Subjects[i]);
  settings.max_age = from_nanos(config.MaxAge);
  settings.duplicate_window = from_nanos(config.Duplicates);
  settings.storage = config.Storage == js_MemoryStorage ? Storage::memory : Storage::file;
  return settings;
}

void validate(const StreamSettings& settings) {
  require_name("stream name", settings.name);
  if (settings.subjects.empty()) fail_invalid("stream " + settings.name + " has no subjects");
  for (const auto& subject : settings.subjects) {
    if (subject.empty()) fail_invalid("stream " + settings.name + " has an empty subject");
  }
  if (settings.max_age.count() < 0) fail_invalid("stream " + settings.name + ": max_age is negative");
  if (settings.duplicate_window.count() <= 0) {
    fail_invalid("stream " + settings.name + ": duplicate_window must be positive");
  }
  if (settings.max_age.count() > 0 && settings.duplicate_window > settings.max_age) {
    fail_invalid("stream " + settings.name + ": duplicate_window is longer than max_age");
  }
}

void validate(const ConsumerSettings& settings) {
  require_name("stream name", settings.stream);
  require_name("durable consumer name", settings.durable_name);
  const std::string consumer = "consumer " + settings.durable_name;
  if (settings.ack_wait.count() <= 0) fail_invalid(consumer + ": ack_wait must be positive");
  if (settings.max_deliver == 0 || settings.max_deliver < -1) {
    fail_invalid(consumer + ": max_deliver must be -1 (unlimited) or at least 1");
  }
  if (settings.max_ack_pending == 0 || settings.max_ack_pending < -1) {
    fail_invalid(consumer + ": max_ack_pending must be -1 (unlimited) or at least 1");
  }
  for (const auto delay : settings.backoff) {
    if (delay.count() <= 0) fail_invalid(consumer + ": backoff delays must be positive");
  }
  if (!settings.backoff.empty() && settings.max_deliver != -1 &&
      settings.max_deliver <= static_cast<int>(settings.backoff.size())) {
    fail_invalid(consumer + ": max_deliver must be larger than the number of backoff delays");
  }
}

// What the server holds for a consumer created from `settings` (it replaces ack_wait by the first backoff delay).
bool consumer_matches(const jsConsumerConfig& config, const ConsumerSettings& settings) {
  const std::string filter = config.FilterSubject == nullptr ? "" : config.FilterSubject;
  const auto expected_ack_wait = settings.backoff.empty() ? settings.ack_wait : settings.backoff.front();
  if (config.AckPolicy != js_AckExplicit || filter != settings.filter_subject ||
      config.AckWait != to_nanos(expected_ack_wait) || config.MaxDeliver != settings.max_deliver ||
      config.MaxAckPending != settings.max_ack_pending ||
      config.BackOffLen != static_cast<int>(settings.backoff.size())) {
    return false;
  }
  for (std::size_t i = 0; i < settings.backoff.size(); ++i) {
    if (config.BackOff[i] != to_nanos(settings.backoff[i])) return false;
  }
  return true;
}

}  // namespace

// -------------------------------------------------------------------------------------------------------------------
// detail: the objects behind the public handles

namespace detail {

class ConnectionCore {
 public:
  explicit ConnectionCore(const ConnectionOptions& options) : options_(options), url_(display_url(options.url)) {
    const auto servers = server_urls(options.url);
    if (options.connect_timeout.count() <= 0 || options.reconnect_wait.count() <= 0 ||
        options.ping_interval.count() <= 0 || options.api_timeout.count() <= 0) {
      fail_invalid("NATS connection timeouts must be positive");
    }
    natsOptions* raw_options = nullptr;
    check(natsOptions_Create(&raw_options), "creating NATS options");
    OptionsPtr nats_options(raw_options);
    auto events = std::make_unique<ConnectionEvents>();
    events->url = url_;
    events->name = options.name;

    const auto configure = [&](natsStatus status) {
      if (status != NATS_OK) fail("configuring the NATS connection to " + url_, status);
    };
    // natsOptions_SetURL takes a single URL; a list goes through SetServers.
    auto server_pointers = c_strings(servers);
    configure(natsOptions_SetServers(raw_options, server_pointers.data(), static_cast<int>(server_pointers.size())));
    if (!options.name.empty()) configure(natsOptions_SetName(raw_options, options.name.c_str()));
    configure(natsOptions_SetTimeout(raw_options, options.connect_timeout.count()));
    configure(natsOptions_SetMaxReconnect(raw_options, -1));
    configure(natsOptions_SetReconnectWait(raw_options, options.reconnect_wait.count()));
    configure(natsOptions_SetPingInterval(raw_options, options.ping_interval.count()));
    configure(natsOptions_SetDisconnectedCB(raw_options, on_disconnected, events.get()));
    configure(natsOptions_SetReconnectedCB(raw_options, on_reconnected, events.get()));
    configure(natsOptions_SetClosedCB(raw_options, on_closed, events.get()));
    // With a connected callback, a failed first attempt makes natsConnection_Connect return NATS_NOT_YET_CONNECTED
    // at once and keep trying in the background, instead of failing or blocking.
    configure(natsOptions_SetRetryOnFailedConnect(raw_options, true, on_connected, events.get()));

    const natsStatus status = natsConnection_Connect(&nc_, raw_options);
    if (status != NATS_OK && status != NATS_NOT_YET_CONNECTED) {
      fail("connecting to NATS at " + url_, status);  // no connection exists, so no callback will use `events`
    }
    events_ = events.release();  // the closed callback owns it from now on
    if (status == NATS_OK) {
      std::lock_guard lock(events_->mutex);
      events_->ever_connected = true;
    } else {
      log::warn("NATS is not reachable yet, connecting in the background",
                {{"url", url_}, {"connection", options.name}});
    }

    jsOptions js_options = api_options(options.api_timeout);
    const natsStatus js_status = natsConnection_JetStream(&js_, nc_, &js_options);
    if (js_status != NATS_OK) {
      natsConnection_Destroy(nc_);
      fail("creating the JetStream context for " + url_, js_status);
    }
  }

  ~ConnectionCore() {
    // Acks and naks are sent without waiting; flushing gives those still buffered a chance to reach the server.
    if (connected()) natsConnection_FlushTimeout(nc_, kCloseFlushTimeout.count());
    jsCtx_Destroy(js_);
    natsConnection_Destroy(nc_);  // posts the closed callback, which frees events_
  }

  ConnectionCore(const ConnectionCore&) = delete;
  ConnectionCore& operator=(const ConnectionCore&) = delete;

  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  const ConnectionOptions& options() const { return options_; }
  const std::string& url() const { return url_; }

  bool connected() const { return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

  // Polls rather than waiting on the callbacks, which may not touch this object (it can be gone before they run).
  bool wait_until_connected(std::chrono::steady_clock::time_point deadline) const {
    while (!connected()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(kConnectedPollInterval, deadline - now));
    }
    return true;
  }

  std::optional<std::string> unavailable_reason() const {
    const natsConnStatus status = natsConnection_Status(nc_);
    if (status == NATS_CONN_STATUS_CONNECTED) return std::nullopt;
    bool ever_connected = false;
    bool in_outage = false;
    std::chrono::steady_clock::time_point since;
    {
      std::lock_guard lock(events_->mutex);
      ever_connected = events_->ever_connected;
      in_outage = events_->in_outage;
      since = events_->unavailable_since;
    }
    const std::string prefix = "NATS at " + url_ + " is unavailable: ";
    if (status == NATS_CONN_STATUS_CLOSED) return prefix + "the connection is closed";
    if (status == NATS_CONN_STATUS_DRAINING_SUBS || status == NATS_CONN_STATUS_DRAINING_PUBS) {
      return prefix + "the connection is draining";
    }
    const auto seconds = std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - since).count());
    const auto every = std::to_string(options_.reconnect_wait.count());
    // The disconnected callback runs on libnats' callback thread and may not have recorded this outage yet.
    if (ever_connected && !in_outage) return prefix + "connection lost just now, reconnecting every " + every + " ms";
    if (ever_connected) return prefix + "connection lost " + seconds + " s ago, reconnecting every " + every + " ms";
    return prefix + "not connected yet, trying every " + every + " ms for " + seconds + " s";
  }

  // How often the connection came back after losing the server; a new value means the server may have lost state.
  std::uint64_t reconnects() const {
    std::lock_guard lock(events_->mutex);
    return events_->reconnects;
  }

  // Requests made while disconnected would wait in libnats' reconnect buffer until they time out; failing at once
  // tells the caller the truth sooner.
  void require_connected(const std::string& what) const {
    if (auto reason = unavailable_reason()) {
      throw JetStreamError(Kind::unavailable, "cannot " + what + ": " + *reason,
                           natsStatus_GetText(NATS_CONNECTION_DISCONNECTED), 0);
    }
  }

 private:
  LibraryLease lease_;  // first member: released after everything below is destroyed
  ConnectionOptions options_;
  std::string url_;
  ConnectionEvents* events_ = nullptr;  // owned by the connection's callbacks; valid until nc_ is destroyed
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

// A pull subscription and the connection it needs; messages share it so that they can be acked after their
// consumer is gone (libnats acks through the message's subscription).
class Subscription {
 public:
  Subscription(std::shared_ptr<ConnectionCore> core, natsSubscription* subscription)
      : core_(std::move(core)), subscription_(subscription) {}
  ~Subscription() { natsSubscription_Destroy(subscription_); }  // leaves the durable consumer on the server
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  natsSubscription* get() const { return subscription_; }

 private:
  std::shared_ptr<ConnectionCore> core_;  // declared first: outlives subscription_
  natsSubscription* subscription_;
};

class MessageState {
 public:
  MessageState(std::shared_ptr<Subscription> subscription, natsMsg* message)
      : subscription_(std::move(subscription)), message_(message) {
    jsMsgMetaData* raw = nullptr;
    check(natsMsg_GetMetaData(&raw, message_.get()), "reading JetStream metadata of a message");
    MetaDataPtr meta(raw);
    delivery_count_ = meta->NumDelivered;
    stream_sequence_ = meta->Sequence.Stream;
    stored_at_ns_ = meta->Timestamp;
  }

  natsMsg* message() const { return message_.get(); }
  std::uint64_t delivery_count() const { return delivery_count_; }
  std::uint64_t stream_sequence() const { return stream_sequence_; }
  std::int64_t stored_at_ns() const { return stored_at_ns_; }

  void settle(natsStatus status, const char* action) const {
    if (status != NATS_OK) {
      fail(std::string(action) + " of message " + std::to_string(stream_sequence_) + " on " +
               natsMsg_GetSubject(message_.get()),
           status);
    }
  }

 private:
  std::shared_ptr<Subscription> subscription_;  // declared first: outlives message_
  MsgPtr message_;
  std::uint64_t delivery_count_ = 0;
  std::uint64_t stream_sequence_ = 0;
  std::int64_t stored_at_ns_ = 0;
};

class ConsumerState {
 public:
  ConsumerState(std::shared_ptr<ConnectionCore> core, ConsumerSettings settings)
      : core_(std::move(core)), settings_(std::move(settings)) {}

  const ConsumerSettings& settings() const { return settings_; }

  std::vector<Message> fetch(int batch, milliseconds wait) {
    if (batch < 1) fail_invalid("fetch batch must be at least 1");
    if (wait.count() < 1) fail_invalid("fetch wait must be at least 1 ms");
    std::lock_guard lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + wait;
    if (!core_->wait_until_connected(deadline)) core_->require_connected("fetch from " + describe());
    if (!subscription_) {
      set_up();
    } else if (core_->reconnects() != checked_reconnects_ ||
               std::chrono::steady_clock::now() - checked_at_ >= kConsumerCheckInterval) {
      // A pull request for a consumer the server no longer has is silently dropped, so fetch alone would never
      // notice that a restarted server lost it (or that someone deleted it): check after reconnects and now and
      // then.
      ensure_consumer();
    }
    const auto remaining = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (remaining.count() < 1) return {};

    natsMsgList list{};
    jsErrCode api_error_code = static_cast<jsErrCode>(0);
    const natsStatus status =
        natsSubscription_Fetch(&list, subscription_->get(), batch, remaining.count(), &api_error_code);
    if (status == NATS_TIMEOUT || status == NATS_NOT_FOUND) return {};
    if (status != NATS_OK) {
      // Whatever broke (consumer deleted, server lost its state...), a fresh set-up by the next call repairs it.
      subscription_.reset();
      fail("fetching from " + describe(), status, api_error_code);
    }
    std::vector<Message> messages;
    messages.reserve(static_cast<std::size_t>(list.Count));
    try {
      for (int i = 0; i < list.Count; ++i) {
        natsMsg* raw = list.Msgs[i];
        list.Msgs[i] = nullptr;  // owned by its MessageState from here on
        messages.push_back(Message(std::make_unique<MessageState>(subscription_, raw)));
      }
    } catch (...) {
      natsMsgList_Destroy(&list);
      throw;
    }
    natsMsgList_Destroy(&list);
    return messages;
  }

  // Creates or updates the durable consumer and binds a pull subscription to it.
  void set_up() {
    ensure_consumer();
    subscribe();
  }

 private:
  void ensure_consumer() {
    core_->require_connected("set up " + describe());
    // Recorded before the requests, so that a reconnect during them means checking again; checked_at_ stays in the
    // past until the check succeeds, so a failed check is repeated by the next fetch.
    checked_reconnects_ = core_->reconnects();
    checked_at_ = {};
    jsOptions options = api_options(core_->options().api_timeout);
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = settings_.durable_name.c_str();
    config.AckPolicy = js_AckExplicit;
    config.DeliverPolicy = js_DeliverAll;
    config.AckWait = to_nanos(settings_.ack_wait);
    config.MaxDeliver = settings_.max_deliver;
    config.MaxAckPending = settings_.max_ack_pending;
    if (!settings_.filter_subject.empty()) config.FilterSubject = settings_.filter_subject.c_str();
    std::vector<std::int64_t> backoff;
    for (const auto delay : settings_.backoff) backoff.push_back(to_nanos(delay));
    if (!backoff.empty()) {
      config.BackOff = backoff.data();
      config.BackOffLen = static_cast<int>(backoff.size());
    }

    jsConsumerInfo* raw_info = nullptr;
    jsErrCode api_error_code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetConsumerInfo(&raw_info, core_->js(), settings_.stream.c_str(),
                                           settings_.durable_name.c_str(), &options, &api_error_code);
    ConsumerInfoPtr info(raw_info);
    if (status == NATS_NOT_FOUND && api_error_code != JSStreamNotFoundErr) {
      status = js_AddConsumer(&raw_info, core_->js(), settings_.stream.c_str(), &config, &options, &api_error_code);
      info.reset(raw_info);
      if (status != NATS_OK) fail("creating " + describe(), status, api_error_code);
      log::info("created JetStream consumer", {{"stream", settings_.stream}, {"consumer", settings_.durable_name}});
    } else if (status != NATS_OK) {
      fail("looking up " + describe(), status, api_error_code);
    } else if (info->Config == nullptr || !consumer_matches(*info->Config, settings_)) {
      jsConsumerInfo* updated = nullptr;
      status = js_UpdateConsumer(&updated, core_->js(), settings_.stream.c_str(), &config, &options, &api_error_code);
      ConsumerInfoPtr updated_info(updated);
      if (status != NATS_OK) fail("updating " + describe(), status, api_error_code);
      log::info("updated JetStream consumer", {{"stream", settings_.stream}, {"consumer", settings_.durable_name}});
    }
    checked_at_ = std::chrono::steady_clock::now();
  }

  void subscribe() {
    jsOptions options = api_options(core_->options().api_timeout);
    jsErrCode api_error_code = static_cast<jsErrCode>(0);
    // Bound to the existing consumer (Stream + Consumer), libnats neither creates nor deletes it.
    jsSubOptions subscribe_options;
    jsSubOptions_Init(&subscribe_options);
    subscribe_options.Stream = settings_.stream.c_str();
    subscribe_options.Consumer = settings_.durable_name.c_str();
    natsSubscription* raw_subscription = nullptr;
    const natsStatus status = js_PullSubscribe(
        &raw_subscription, core_->js(), settings_.filter_subject.empty() ? nullptr : settings_.filter_subject.c_str(),
        settings_.durable_name.c_str(), &options, &subscribe_options, &api_error_code);
    if (status != NATS_OK) fail("subscribing to " + describe(), status, api_error_code);
    subscription_ = std::make_shared<Subscription>(core_, raw_subscription);
  }

  std::string describe() const { return "consumer " + settings_.durable_name + " of stream " + settings_.stream; }

  std::shared_ptr<ConnectionCore> core_;
  ConsumerSettings settings_;
  std::mutex mutex_;                            // serialises fetch
  std::shared_ptr<Subscription> subscription_;  // null until set up, and after a failure
  std::uint64_t checked_reconnects_ = 0;        // core_->reconnects() when the consumer was last checked
  std::chrono::steady_clock::time_point checked_at_;
};

}  // namespace detail

// -------------------------------------------------------------------------------------------------------------------
// Message

Message::Message(std::unique_ptr<detail::MessageState> state) : state_(std::move(state)) {}
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;
Message::~Message() = default;

std::string_view Message::subject() const { return natsMsg_GetSubject(state_->message()); }

std::string_view Message::data() const {
  const char* data = natsMsg_GetData(state_->message());
  const int length = natsMsg_GetDataLength(state_->message());
  if (data == nullptr || length <= 0) return {};
  return {data, static_cast<std::size_t>(length)};
}

std::optional<std::string> Message::header(const std::string& name) const {
  const char* value = nullptr;
  const natsStatus status = natsMsgHeader_Get(state_->message(), name.c_str(), &value);
  if (status == NATS_NOT_FOUND) return std::nullopt;
  check(status, "reading header " + name);
  return std::string(value == nullptr ? "" : value);
}

std::uint64_t Message::delivery_count() const { return state_->delivery_count(); }
std::uint64_t Message::stream_sequence() const { return state_->stream_sequence(); }

std::chrono::system_clock::time_point Message::stored_at() const {
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::nanoseconds(state_->stored_at_ns())));
}

void Message::ack() { state_->settle(natsMsg_Ack(state_->message(), nullptr), "ack"); }

void Message::ack_sync(milliseconds timeout) {
  if (timeout.count() < 1) fail_invalid("ack timeout must be at least 1 ms");
  jsOptions options = api_options(timeout);
  jsErrCode api_error_code = static_cast<jsErrCode>(0);
  const natsStatus status = natsMsg_AckSync(state_->message(), &options, &api_error_code);
  if (status != NATS_OK) {
    fail("ack of message " + std::to_string(state_->stream_sequence()) + " on " + std::string(subject()), status,
         api_error_code);
  }
}

void Message::nak(milliseconds delay) {
  if (delay.count() < 0) fail_invalid("nak delay is negative");
  const natsStatus status = delay.count() == 0 ? natsMsg_Nak(state_->message(), nullptr)
                                               : natsMsg_NakWithDelay(state_->message(), delay.count(), nullptr);
  state_->settle(status, "nak");
}

void Message::term() { state_->settle(natsMsg_Term(state_->message(), nullptr), "term"); }

void Message::in_progress() { state_->settle(natsMsg_InProgress(state_->message(), nullptr), "in-progress"); }

// -------------------------------------------------------------------------------------------------------------------
// PullConsumer

PullConsumer::PullConsumer(std::unique_ptr<detail::ConsumerState> state) : state_(std::move(state)) {}
PullConsumer::PullConsumer(PullConsumer&&) noexcept = default;
PullConsumer& PullConsumer::operator=(PullConsumer&&) noexcept = default;
PullConsumer::~PullConsumer() = default;

std::vector<Message> PullConsumer::fetch(int batch, milliseconds wait) { return state_->fetch(batch, wait); }

const ConsumerSettings& PullConsumer::settings() const { return state_->settings(); }

// -------------------------------------------------------------------------------------------------------------------
// Connection

Connection::Connection(const ConnectionOptions& options) : core_(std::make_shared<detail::ConnectionCore>(options)) {}
Connection::Connection(Connection&&) noexcept = default;
Connection& Connection::operator=(Connection&&) noexcept = default;
Connection::~Connection() = default;

std::optional<std::string> Connection::unavailable_reason() const { return core_->unavailable_reason(); }

void Connection::ensure_stream(const StreamSettings& settings) {
  validate(settings);
  auto subjects = c_strings(settings.subjects);
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = settings.name.c_str();
  config.Subjects = subjects.data();
  config.SubjectsLen = static_cast<int>(subjects.size());
  config.MaxAge = to_nanos(settings.max_age);
  config.Duplicates = to_nanos(settings.duplicate_window);
  config.Storage = settings.storage == Storage::memory ? js_MemoryStorage : js_FileStorage;
  const std::string stream = "stream " + settings.name;
  core_->require_connected("set up " + stream);
  jsOptions options = api_options(core_->options().api_timeout);

  // Two attempts: another process may create the stream between our lookup and our create.
  for (int attempt = 0; attempt < 2; ++attempt) {
    jsStreamInfo* raw_info = nullptr;
    jsErrCode api_error_code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&raw_info, core_->js(), settings.name.c_str(), &options, &api_error_code);
    StreamInfoPtr info(raw_info);
    if (status == NATS_OK) {
      const StreamSettings current = stream_settings_of(*info->Config);
      if (sorted(current.subjects) == sorted(settings.subjects) && current.max_age == settings.max_age &&
          current.duplicate_window == settings.duplicate_window && current.storage == settings.storage) {
        return;
      }
      if (current.storage != settings.storage) {
        throw JetStreamError(Kind::rejected,
                             stream + " exists with another storage type; storage cannot change, create a new stream",
                             natsStatus_GetText(NATS_ERR), 0);
      }
      jsStreamInfo* updated = nullptr;
      status = js_UpdateStream(&updated, core_->js(), &config, &options, &api_error_code);
      StreamInfoPtr updated_info(updated);
      if (status != NATS_OK) fail("updating " + stream, status, api_error_code);
      log::info("updated JetStream stream", {{"stream", settings.name}});
      return;
    }
    if (status != NATS_NOT_FOUND && api_error_code != JSStreamNotFoundErr) {
      fail("looking up " + stream, status, api_error_code);
    }
    jsStreamInfo* created = nullptr;
    status = js_AddStream(&created, core_->js(), &config, &options, &api_error_code);
    StreamInfoPtr created_info(created);
    if (status == NATS_OK) {
      log::info("created JetStream stream", {{"stream", settings.name}});
      return;
    }
    if (api_error_code != JSStreamNameExistErr || attempt > 0) fail("creating " + stream, status, api_error_code);
  }
}

StreamInfo Connection::stream_info(const std::string& stream) {
  require_name("stream name", stream);
  core_->require_connected("look up stream " + stream);
  jsOptions options = api_options(core_->options().api_timeout);
  jsStreamInfo* raw_info = nullptr;
  jsErrCode api_error_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_GetStreamInfo(&raw_info, core_->js(), stream.c_str(), &options, &api_error_code);
  StreamInfoPtr info(raw_info);
  if (status != NATS_OK) fail("looking up stream " + stream, status, api_error_code);
  StreamInfo result;
  result.settings = stream_settings_of(*info->Config);
  result.messages = info->State.Msgs;
  result.bytes = info->State.Bytes;
  result.first_sequence = info->State.FirstSeq;
  result.last_sequence = info->State.LastSeq;
  result.consumers = info->State.Consumers;
  return result;
}

PublishAck Connection::publish(const std::string& subject, std::string_view payload, const std::string& msg_id,
                               const Headers& headers, milliseconds timeout, const std::string& expected_stream) {
  if (subject.empty()) fail_invalid("publish subject is empty");
  if (timeout.count() < 1) fail_invalid("publish timeout must be at least 1 ms");
  if (payload.size() > static_cast<std::size_t>(INT_MAX)) fail_invalid("payload for " + subject + " is too large");
  // Refusing at once while disconnected also keeps the message out of libnats' reconnect buffer, from where it
  // could still be stored after we reported a failure (harmless with a message id, but surprising).
  core_->require_connected("publish to " + subject);
  natsMsg* raw_message = nullptr;
  check(natsMsg_Create(&raw_message, subject.c_str(), nullptr, payload.empty() ? "" : payload.data(),
                       static_cast<int>(payload.size())),
        "preparing a message for " + subject);
  MsgPtr message(raw_message);
  for (const auto& [name, value] : headers) {
    check(natsMsgHeader_Add(message.get(), name.c_str(), value.c_str()), "setting header " + name);
  }
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = timeout.count();
  if (!msg_id.empty()) options.MsgId = msg_id.c_str();
  if (!expected_stream.empty()) options.ExpectStream = expected_stream.c_str();

  jsPubAck* raw_ack = nullptr;
  jsErrCode api_error_code = static_cast<jsErrCode>(0);
  const natsStatus status = js_PublishMsg(&raw_ack, core_->js(), message.get(), &options, &api_error_code);
  PubAckPtr ack(raw_ack);
  if (status == NATS_NO_RESPONDERS) {
    fail("publishing to " + subject, status, api_error_code, "no JetStream stream captures this subject");
  }
  if (status != NATS_OK) fail("publishing to " + subject, status, api_error_code);
  return PublishAck{ack->Stream == nullptr ? "" : ack->Stream, ack->Sequence, ack->Duplicate};
}

PullConsumer Connection::pull_consumer(const ConsumerSettings& settings) {
  validate(settings);
  auto state = std::make_unique<detail::ConsumerState>(core_, settings);
  try {
    state->set_up();
  } catch (const JetStreamError& error) {
    if (error.kind() != Kind::unavailable) throw;
    log::warn("JetStream consumer not set up yet, the first fetch will retry",
              {{"stream", settings.stream}, {"consumer", settings.durable_name}, {"error", error.what()}});
  }
  return PullConsumer(std::move(state));
}

}  // namespace intercab::jetstream
