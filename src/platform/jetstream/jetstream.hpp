// NATS JetStream client for the event bus: streams, de-duplicated publishing and durable pull consumers over
// libnats 3.4.1, with RAII ownership of every libnats object and no libnats type in this header.
//
// Threads: a Connection may be used from any number of threads at once (libnats connections and JetStream contexts
// are thread-safe). A PullConsumer and a Message belong to one thread at a time and may be moved to another one;
// PullConsumer::fetch serialises concurrent callers rather than racing them.
//
// Lifetimes: a PullConsumer keeps its connection open and a Message keeps its subscription open, so a Message can
// still be acknowledged after its PullConsumer and Connection were destroyed; the network connection closes when
// the last of them goes. A moved-from object may only be destroyed or assigned to. libnats itself is opened with
// the first Connection and closed (waiting for its threads) once nothing of this library uses it any more, so it
// is never closed under a live connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace intercab::jetstream {

namespace detail {
class ConnectionCore;
class ConsumerState;
class MessageState;
}  // namespace detail

class JetStreamError : public std::runtime_error {
 public:
  enum class Kind {
    unavailable,       // not connected, no answer in time, or nobody answered: retrying later can succeed
    rejected,          // the server refused the request (bad configuration, unknown stream, wrong expected stream)
    invalid_argument,  // the caller passed something unusable; retrying cannot help
  };

  JetStreamError(Kind kind, const std::string& message, std::string status_text, int api_error_code);

  Kind kind() const { return kind_; }
  // libnats' name for the failure, e.g. "Timeout", "No responders available for request".
  const std::string& status_text() const { return status_text_; }
  // The JetStream API error code from the server (10059 = stream not found, ...), or 0 when there is none.
  int api_error_code() const { return api_error_code_; }

 private:
  Kind kind_;
  std::string status_text_;
  int api_error_code_;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ConnectionOptions {
  // nats://[user:password@]host:port; a comma-separated list names servers of one cluster, tried in random order.
  std::string url;
  std::string name;  // shown by the server's monitoring, e.g. "intercab-booking"
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_wait{250};
  // Liveness pings: a server that vanished without closing the socket is noticed after about two intervals.
  std::chrono::milliseconds ping_interval{20000};
  // Default wait for stream and consumer management requests (ensure_stream, stream_info, consumer set-up).
  std::chrono::milliseconds api_timeout{5000};
};

enum class Storage { file, memory };

struct StreamSettings {
  std::string name;                      // upper case by convention: BOOKING_EVENTS
  std::vector<std::string> subjects;     // booking.events
  std::chrono::milliseconds max_age{0};  // 0 keeps messages until other limits remove them
  // Publishes repeating a message id within this window are acknowledged as duplicates and not stored again.
  std::chrono::milliseconds duplicate_window{std::chrono::minutes(2)};
  Storage storage = Storage::file;
};

struct StreamInfo {
  StreamSettings settings;  // as the server holds them
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t last_sequence = 0;
  std::int64_t consumers = 0;
};

struct PublishAck {
  std::string stream;
  std::uint64_t sequence = 0;  // of the stored message; for a duplicate, of the original
  bool duplicate = false;
};

struct ConsumerSettings {
  std::string stream;
  std::string durable_name;    // the consuming service, e.g. "notification"; no '.', '*', '>' or spaces
  std::string filter_subject;  // empty: every subject of the stream
  // A delivered message that is neither acked, naked nor marked in progress within this time is delivered again.
  std::chrono::milliseconds ack_wait{30000};
  int max_deliver = -1;        // deliveries per message before the server gives up on it; -1 is unlimited
  int max_ack_pending = 1000;  // delivered but unacknowledged messages before the server pauses delivery
  // Redelivery delays after a missed ack_wait, one per redelivery (the last one repeats); needs
  // max_deliver > backoff.size(). When set, the server uses backoff[0] instead of ack_wait.
  std::vector<std::chrono::milliseconds> backoff;
};

class Message {
 public:
  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  ~Message();

  std::string_view subject() const;
  std::string_view data() const;
  // The first value of the header, or nullopt when the message does not carry it.
  std::optional<std::string> header(const std::string& name) const;
  std::uint64_t delivery_count() const;  // 1 on the first delivery
  std::uint64_t stream_sequence() const;
  std::chrono::system_clock::time_point stored_at() const;  // when the stream stored the message

  // Settle the message exactly once with ack, nak or term; in_progress may come any number of times before.
  // These send without waiting for the server: a lost ack only means one more delivery, which consumers
  // tolerate because they deduplicate by event id.
  void ack();
  // Acks and waits up to `timeout` for the server to confirm it, for the few places that must know the message
  // will not come back (e.g. before a planned shutdown). Throws JetStreamError (unavailable) on timeout.
  void ack_sync(std::chrono::milliseconds timeout);
  void nak(std::chrono::milliseconds delay = std::chrono::milliseconds(0));  // deliver again after `delay`
  void term();                                                               // never deliver again
  void in_progress();                                                        // restart the ack_wait timer

 private:
  friend class detail::ConsumerState;
  explicit Message(std::unique_ptr<detail::MessageState> state);
  std::unique_ptr<detail::MessageState> state_;
};

class PullConsumer {
 public:
  PullConsumer(PullConsumer&&) noexcept;
  PullConsumer& operator=(PullConsumer&&) noexcept;
  ~PullConsumer();

  // Up to `batch` messages, waiting up to `wait` for the first one; empty when none arrived in time. When the
  // connection is down it waits up to `wait` for it to come back and then throws JetStreamError (unavailable), so a
  // polling loop never spins. After a reconnect, and every 30 s, it checks that the server still has the consumer
  // and creates it again if not (a restarted server may have lost it); after a failed fetch the next call sets the
  // consumer and its subscription up again.
  std::vector<Message> fetch(int batch, std::chrono::milliseconds wait);

  const ConsumerSettings& settings() const;

 private:
  friend class Connection;
  explicit PullConsumer(std::unique_ptr<detail::ConsumerState> state);
  std::unique_ptr<detail::ConsumerState> state_;
};

// Every request below fails at once with JetStreamError (unavailable) while the connection is down, rather than
// waiting in libnats' reconnect buffer until its timeout.
class Connection {
 public:
  // Never fails because the server is down: libnats keeps trying in the background (forever, every
  // reconnect_wait), so a service can start before NATS and become ready once it is reachable. Throws
  // JetStreamError (invalid_argument) for a URL that is not nats://host[:port] or tls://host[:port].
  explicit Connection(const ConnectionOptions& options);
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  ~Connection();

  // Why the connection cannot be used right now (for /ready and logs), or nullopt when connected.
  std::optional<std::string> unavailable_reason() const;

  // Creates the stream, or updates it when its subjects, max age or duplicate window differ. Changing the
  // storage of an existing stream is refused (JetStreamError, rejected): it needs a new stream.
  void ensure_stream(const StreamSettings& settings);
  StreamInfo stream_info(const std::string& stream);

  // Publishes and waits up to `timeout` for the stream's acknowledgement. `msg_id` (Nats-Msg-Id) makes
  // republishing safe: within the stream's duplicate window the same id is stored once. With `expected_stream`
  // set, the server refuses the message unless that stream captures the subject. Throws JetStreamError:
  // unavailable when disconnected, on timeout, or when no stream listens on the subject; rejected when the
  // server refuses the message.
  PublishAck publish(const std::string& subject, std::string_view payload, const std::string& msg_id,
                     const Headers& headers, std::chrono::milliseconds timeout,
                     const std::string& expected_stream = {});

  // Creates the durable consumer, or updates it when its settings differ, and subscribes to it. While NATS is
  // unreachable this still returns, and the first fetch that reaches the server does the set-up.
  PullConsumer pull_consumer(const ConsumerSettings& settings);

 private:
  std::shared_ptr<detail::ConnectionCore> core_;
};

}  // namespace intercab::jetstream
