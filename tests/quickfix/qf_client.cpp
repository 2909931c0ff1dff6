// A QuickFIX C++ initiator driven by line commands, for end-to-end tests of the Arbiter
// acceptor with an independent FIX engine.
//
//   qf_client SESSION.cfg            commands on stdin, one per line
//   qf_client SESSION.cfg SCRIPT     commands from a file
//
// The session file is ordinary QuickFIX settings with exactly one initiator session.
// Everything QuickFIX delivers is printed to stdout, one message a line, fields separated by
// '|':   "in MSG" (received, app or admin), "out MSG" (sent admin messages and app messages).
// Each command ends with "ok COMMAND", or "fail REASON" after which the program exits 1.
// A "match MSG" line precedes the "ok" of an expect. Runs single-threaded: the initiator is
// polled from the command loop, so disconnect/reconnect never race QuickFIX's own thread.
//
// Commands (SIDE buy|sell|1|2, PRICE a decimal or "mkt", TIF day|ioc|fok|gtc|<code>; any
// trailing TAG=VALUE words are added to the message body):
//   logon                                   start the initiator, wait for the Logon reply
//   new CLORD SYMBOL SIDE QTY PRICE [TIF] [TAG=VALUE...]
//   cancel CLORD ORIGCLORD [SYMBOL SIDE]    symbol/side default to the original order's
//   replace CLORD ORIGCLORD QTY PRICE [TAG=VALUE...]
//   status CLORD [SYMBOL SIDE]
//   masscancel CLORD [SYMBOL]               530=7 (all) or 530=1 (by symbol)
//   send MSGTYPE [TAG=VALUE...]             any application message
//   expect [timeout=SECS] TAG=VALUE...      first unconsumed received message with all of
//                                           these fields; consumes it (default 20 s)
//   expect-out [timeout=SECS] TAG=VALUE...  the same over messages QuickFIX sent
//   none TAG=VALUE...                       fail if an unconsumed received message matches
//   none-out TAG=VALUE...                   the same over sent messages
//   disconnect                              drop the TCP connection, no Logout
//   reconnect                               new initiator from the same settings (the
//                                           FileStore is re-read from disk), wait for logon
//   port N                                  connect to port N from the next reconnect
//                                           (the venue restarted elsewhere)
//   logout                                  Logout handshake, wait for the disconnect
//   seqnums                                 print "seqnums SENDER TARGET" (next numbers)
//   next-sender-seq N|+N|-N                 move the stored next outgoing MsgSeqNum
//   next-target-seq N|+N|-N                 move the stored next expected incoming one
//                                           (use while disconnected, then reconnect)
//   mdsub REQID SYMBOL DEPTH AGG [TYPES]    MarketDataRequest snapshot + updates (263=1,
//                                           265=1), 266=AGG, entry types e.g. 01 (default)
//   mdunsub REQID SYMBOL                    the same with 263=2
//   mdbook SYMBOL                           print "book SYMBOL bids=P:Q,.. asks=P:Q,..
//                                           gaps=N" from the W and X messages received
//                                           (price levels; gaps: RptSeq jumps seen)
//   pump MILLIS                             keep polling for a while
//   quit                                    exit 0 (without logout)
// Blank lines and lines starting with '#' are ignored.

#include <quickfix/Application.h>
#include <quickfix/Group.h>
#include <quickfix/Log.h>
#include <quickfix/FileLog.h>
#include <quickfix/FileStore.h>
#include <quickfix/Message.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

typedef std::vector<std::pair<int, std::string> > Fields;

// One side of a price-level book: price (as a number, for order) -> (price text, size).
typedef std::map<double, std::pair<std::string, std::string> > Side;

// What W and X messages built for one symbol, and the RptSeq check.
struct MdBook {
  Side bids;
  Side asks;
  long next_rpt_seq;  // 0: unknown (after a FIX.4.4 W, which carries none)
  int gaps;
  MdBook() : next_rpt_seq(0), gaps(0) {}
};

struct Recorded {
  std::string text;
  Fields fields;
  bool consumed;
};

std::string render(const FIX::Message& message) {
  std::string text = message.toString();
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\x01') text[i] = '|';
  if (!text.empty() && text[text.size() - 1] == '|') text.erase(text.size() - 1);
  return text;
}

Fields parse_fields(const std::string& text) {
  Fields fields;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, '|')) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) continue;
    fields.push_back(std::make_pair(std::atoi(item.substr(0, eq).c_str()), item.substr(eq + 1)));
  }
  return fields;
}

void emit(const std::string& line) {
  std::cout << line << std::endl;  // std::endl flushes: the test reads lines as they come
}

class Client : public FIX::Application {
 public:
  std::deque<Recorded> received;
  std::deque<Recorded> sent;
  std::map<std::string, MdBook> books;
  bool logged_on;
  int logons;

  Client() : logged_on(false), logons(0) {}

  void onCreate(const FIX::SessionID&) {}
  void onLogon(const FIX::SessionID&) {
    logged_on = true;
    ++logons;
    emit("event logon");
  }
  void onLogout(const FIX::SessionID&) {
    logged_on = false;
    emit("event logout");
  }
  void toAdmin(FIX::Message& message, const FIX::SessionID&) { record(sent, "out ", message); }
  void toApp(FIX::Message& message, const FIX::SessionID&) throw(FIX::DoNotSend) {
    record(sent, "out ", message);
  }
  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) {
    record(received, "in ", message);
  }
  void fromApp(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) {
    record(received, "in ", message);
  }

 private:
  static Side& side_of(MdBook& book, const std::string& entry_type) {
    return entry_type == "0" ? book.bids : book.asks;
  }

  // Entries of NoMDEntries (268) in wire order, each starting at `delimiter`. Read from the
  // raw message (see TapLog): without a data dictionary QuickFIX keeps no group order.
  static std::vector<std::map<int, std::string> > entries(const Fields& fields, int delimiter) {
    std::vector<std::map<int, std::string> > out;
    bool inside = false;
    for (size_t i = 0; i < fields.size(); ++i) {
      int tag = fields[i].first;
      if (tag == 268) {
        inside = true;
        continue;
      }
      if (!inside || tag == 10) continue;
      if (tag == delimiter) out.push_back(std::map<int, std::string>());
      if (!out.empty()) out.back()[tag] = fields[i].second;
    }
    return out;
  }

  static std::string get(const Fields& fields, int tag) {
    for (size_t i = 0; i < fields.size(); ++i)
      if (fields[i].first == tag) return fields[i].second;
    return "";
  }

 public:
  // A raw incoming message, as it came off the wire.
  void on_wire(const std::string& raw) {
    std::string text = raw;
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\x01') text[i] = '|';
    Fields fields = parse_fields(text);
    std::string type = get(fields, 35);
    if (type == "W") {
      MdBook& book = books[get(fields, 55)];
      book.bids.clear();
      book.asks.clear();
      std::string rpt = get(fields, 83);
      book.next_rpt_seq = rpt.empty() ? 0 : std::atol(rpt.c_str()) + 1;
      std::vector<std::map<int, std::string> > list = entries(fields, 269);
      for (size_t i = 0; i < list.size(); ++i) {
        std::string entry_type = list[i][269];
        if (entry_type != "0" && entry_type != "1") continue;
        std::string px = list[i][270];
        side_of(book, entry_type)[std::atof(px.c_str())] = std::make_pair(px, list[i][271]);
      }
    } else if (type == "X") {
      std::vector<std::map<int, std::string> > list = entries(fields, 279);
      for (size_t i = 0; i < list.size(); ++i) {
        std::map<int, std::string>& entry = list[i];
        MdBook& book = books[entry.count(55) ? entry[55] : std::string("?")];
        if (entry.count(83)) {
          long seq = std::atol(entry[83].c_str());
          if (book.next_rpt_seq != 0 && seq != book.next_rpt_seq) ++book.gaps;
          book.next_rpt_seq = seq + 1;
        }
        std::string entry_type = entry[269];
        if (entry_type != "0" && entry_type != "1") continue;
        std::string px = entry[270];
        Side& side = side_of(book, entry_type);
        if (entry[279] == "2")
          side.erase(std::atof(px.c_str()));
        else
          side[std::atof(px.c_str())] = std::make_pair(px, entry[271]);
      }
    }
  }

 private:
  void record(std::deque<Recorded>& into, const char* prefix, const FIX::Message& message) {
    Recorded r;
    r.text = render(message);
    r.fields = parse_fields(r.text);
    r.consumed = false;
    emit(prefix + r.text);
    into.push_back(r);
  }
};

// A log that also hands every raw incoming message to the client (market data keeps its
// repeating groups in wire order only there), and writes QuickFIX's usual file log.
class TapLog : public FIX::Log {
 public:
  TapLog(FIX::Log* inner, Client* client) : inner_(inner), client_(client) {}
  ~TapLog() {}
  void clear() { inner_->clear(); }
  void backup() { inner_->backup(); }
  void onIncoming(const std::string& value) {
    inner_->onIncoming(value);
    client_->on_wire(value);
  }
  void onOutgoing(const std::string& value) { inner_->onOutgoing(value); }
  void onEvent(const std::string& value) { inner_->onEvent(value); }
  FIX::Log* inner() { return inner_; }

 private:
  FIX::Log* inner_;
  Client* client_;
};

class TapLogFactory : public FIX::LogFactory {
 public:
  TapLogFactory(const FIX::SessionSettings& settings, Client* client)
      : files_(settings), client_(client) {}
  FIX::Log* create() { return new TapLog(files_.create(), client_); }
  FIX::Log* create(const FIX::SessionID& id) { return new TapLog(files_.create(id), client_); }
  void destroy(FIX::Log* log) {
    TapLog* tap = static_cast<TapLog*>(log);
    files_.destroy(tap->inner());
    delete tap;
  }

 private:
  FIX::FileLogFactory files_;
  Client* client_;
};

struct OrderInfo {
  std::string symbol;
  std::string side;
  std::string qty;
  std::string price;
  std::string ord_type;
};

class Failure {
 public:
  explicit Failure(const std::string& why) : reason(why) {}
  std::string reason;
};

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool matches(const Recorded& r, const Fields& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    bool found = false;
    for (size_t j = 0; j < r.fields.size(); ++j) {
      if (r.fields[j].first == want[i].first && r.fields[j].second == want[i].second) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

std::string side_code(const std::string& side) {
  if (side == "buy" || side == "b") return "1";
  if (side == "sell" || side == "s") return "2";
  return side;
}

std::string tif_code(const std::string& tif) {
  if (tif == "day") return "0";
  if (tif == "gtc") return "1";
  if (tif == "ioc") return "3";
  if (tif == "fok") return "4";
  return tif;
}

class Driver {
 public:
  Driver(const std::string& config_path) : settings(config_path) {
    std::set<FIX::SessionID> ids = settings.getSessions();
    if (ids.size() != 1) throw Failure("the settings must hold exactly one session");
    session_id = *ids.begin();
  }

  ~Driver() { teardown(); }

  void run_line(const std::string& line) {
    std::vector<std::string> w;
    std::stringstream in(line);
    std::string word;
    while (in >> word) w.push_back(word);
    if (w.empty() || w[0][0] == '#') return;
    const std::string& cmd = w[0];
    if (cmd == "logon") {
      if (!initiator.get()) build();
      wait_logged_on(20);
    } else if (cmd == "new") {
      need(w, 6, "new CLORD SYMBOL SIDE QTY PRICE [TIF] [TAG=VALUE...]");
      OrderInfo o;
      o.symbol = w[2];
      o.side = side_code(w[3]);
      o.qty = w[4];
      o.price = w[5];
      o.ord_type = w[5] == "mkt" ? "1" : "2";
      size_t extra = 6;
      std::string tif = "0";
      if (w.size() > 6 && w[6].find('=') == std::string::npos) {
        tif = tif_code(w[6]);
        extra = 7;
      }
      FIX::Message m = app("D");
      m.setField(11, w[1]);
      m.setField(55, o.symbol);
      m.setField(54, o.side);
      m.setField(60, transact_time());
      m.setField(38, o.qty);
      m.setField(40, o.ord_type);
      if (o.ord_type == "2") m.setField(44, o.price);
      m.setField(59, tif);
      add_extra(m, w, extra);
      orders[w[1]] = o;
      send(m);
    } else if (cmd == "cancel") {
      need(w, 3, "cancel CLORD ORIGCLORD [SYMBOL SIDE]");
      OrderInfo o = lookup(w[2], w, 3);
      FIX::Message m = app("F");
      m.setField(11, w[1]);
      m.setField(41, w[2]);
      m.setField(55, o.symbol);
      m.setField(54, o.side);
      m.setField(60, transact_time());
      if (!o.qty.empty()) m.setField(38, o.qty);
      send(m);
    } else if (cmd == "replace") {
      need(w, 5, "replace CLORD ORIGCLORD QTY PRICE [TAG=VALUE...]");
      OrderInfo o = lookup(w[2], w, w.size());
      o.qty = w[3];
      o.price = w[4];
      FIX::Message m = app("G");
      m.setField(11, w[1]);
      m.setField(41, w[2]);
      m.setField(55, o.symbol);
      m.setField(54, o.side);
      m.setField(60, transact_time());
      m.setField(38, o.qty);
      m.setField(40, o.ord_type.empty() ? "2" : o.ord_type);
      if (o.price != "mkt") m.setField(44, o.price);
      add_extra(m, w, 5);
      orders[w[1]] = o;
      send(m);
    } else if (cmd == "status") {
      need(w, 2, "status CLORD [SYMBOL SIDE]");
      OrderInfo o = lookup(w[1], w, 2);
      FIX::Message m = app("H");
      m.setField(11, w[1]);
      m.setField(55, o.symbol);
      m.setField(54, o.side);
      send(m);
    } else if (cmd == "masscancel") {
      need(w, 2, "masscancel CLORD [SYMBOL]");
      FIX::Message m = app("q");
      m.setField(11, w[1]);
      if (w.size() > 2) {
        m.setField(530, "1");
        m.setField(55, w[2]);
      } else {
        m.setField(530, "7");
      }
      m.setField(60, transact_time());
      send(m);
    } else if (cmd == "send") {
      need(w, 2, "send MSGTYPE [TAG=VALUE...]");
      FIX::Message m = app(w[1]);
      add_extra(m, w, 2);
      send(m);
    } else if (cmd == "expect" || cmd == "expect-out") {
      double timeout = 20;
      size_t first = 1;
      if (w.size() > 1 && w[1].compare(0, 8, "timeout=") == 0) {
        timeout = std::atof(w[1].c_str() + 8);
        first = 2;
      }
      Fields want = wanted(w, first);
      std::deque<Recorded>& queue = cmd == "expect" ? app_.received : app_.sent;
      double deadline = now_seconds() + timeout;
      for (;;) {
        for (size_t i = 0; i < queue.size(); ++i) {
          if (!queue[i].consumed && matches(queue[i], want)) {
            queue[i].consumed = true;
            emit("match " + queue[i].text);
            goto done;
          }
        }
        if (now_seconds() > deadline) throw Failure("timed out: " + line);
        pump_once();
      }
    done:;
    } else if (cmd == "none" || cmd == "none-out") {
      Fields want = wanted(w, 1);
      pump_once();
      std::deque<Recorded>& queue = cmd == "none" ? app_.received : app_.sent;
      for (size_t i = 0; i < queue.size(); ++i)
        if (!queue[i].consumed && matches(queue[i], want))
          throw Failure("unexpected message for '" + line + "': " + queue[i].text);
    } else if (cmd == "disconnect") {
      FIX::Session* s = session();
      // Drop the socket first: no Logout goes out. Disabling afterwards stops the
      // initiator from connecting again by itself.
      s->disconnect();
      s->logout();
      double deadline = now_seconds() + 20;
      while (app_.logged_on) {
        if (now_seconds() > deadline) throw Failure("still logged on after disconnect");
        pump_once();
      }
      pump_for(0.1);
    } else if (cmd == "reconnect") {
      teardown();
      build();
      wait_logged_on(20);
    } else if (cmd == "port") {
      need(w, 2, "port N");
      // SessionSettings refuses to set a session twice: build them again.
      FIX::Dictionary d = settings.get(session_id);
      d.setInt("SocketConnectPort", std::stoi(w[1]));
      FIX::SessionSettings fresh;
      fresh.set(settings.get());
      fresh.set(session_id, d);
      settings = fresh;
    } else if (cmd == "logout") {
      session()->logout("bye");
      double deadline = now_seconds() + 20;
      while (app_.logged_on || sent_logout_pending()) {
        if (now_seconds() > deadline) throw Failure("logout did not complete");
        pump_once();
      }
    } else if (cmd == "seqnums") {
      std::stringstream s;
      s << "seqnums " << session()->getExpectedSenderNum() << " "
        << session()->getExpectedTargetNum();
      emit(s.str());
    } else if (cmd == "next-sender-seq" || cmd == "next-target-seq") {
      need(w, 2, "next-sender-seq|next-target-seq N|+N|-N");
      FIX::Session* s = session();
      bool sender = cmd == "next-sender-seq";
      int current = sender ? s->getExpectedSenderNum() : s->getExpectedTargetNum();
      int value = std::atoi(w[1].c_str());
      if (w[1][0] == '+' || w[1][0] == '-') value += current;
      if (value < 1) throw Failure("sequence number below 1");
      // Written through to the FileStore, so a reconnect (which re-reads it) sees it too.
      if (sender)
        s->setNextSenderMsgSeqNum(value);
      else
        s->setNextTargetMsgSeqNum(value);
    } else if (cmd == "mdsub" || cmd == "mdunsub") {
      bool subscribe = cmd == "mdsub";
      need(w, subscribe ? 5 : 3, "mdsub REQID SYMBOL DEPTH AGG [TYPES] | mdunsub REQID SYMBOL");
      FIX::Message m = app("V");
      m.setField(262, w[1]);
      m.setField(263, subscribe ? "1" : "2");
      m.setField(264, subscribe ? w[3] : "0");
      if (subscribe) {
        m.setField(265, "1");
        m.setField(266, w[4]);
      }
      std::string types = subscribe && w.size() > 5 ? w[5] : "01";
      for (size_t i = 0; i < types.size(); ++i) {
        FIX::Group type(267, 269);
        type.setField(269, types.substr(i, 1));
        m.addGroup(type);
      }
      FIX::Group symbol(146, 55);
      symbol.setField(55, w[2]);
      m.addGroup(symbol);
      send(m);
    } else if (cmd == "mdbook") {
      need(w, 2, "mdbook SYMBOL");
      pump_once();
      MdBook& book = app_.books[w[1]];
      std::stringstream out;
      out << "book " << w[1] << " bids=";
      const char* sep = "";
      for (Side::reverse_iterator i = book.bids.rbegin(); i != book.bids.rend(); ++i, sep = ",")
        out << sep << i->second.first << ":" << i->second.second;
      out << " asks=";
      sep = "";
      for (Side::iterator i = book.asks.begin(); i != book.asks.end(); ++i, sep = ",")
        out << sep << i->second.first << ":" << i->second.second;
      out << " gaps=" << book.gaps;
      emit(out.str());
    } else if (cmd == "pump") {
      need(w, 2, "pump MILLIS");
      pump_for(std::atof(w[1].c_str()) / 1000.0);
    } else if (cmd == "quit") {
      emit("ok " + line);
      std::cout.flush();
      std::_Exit(0);
    } else {
      throw Failure("unknown command: " + line);
    }
    emit("ok " + line);
  }

 private:
  FIX::SessionSettings settings;
  FIX::SessionID session_id;
  Client app_;
  std::unique_ptr<FIX::FileStoreFactory> store;
  std::unique_ptr<TapLogFactory> log;
  std::unique_ptr<FIX::SocketInitiator> initiator;
  std::map<std::string, OrderInfo> orders;

  void build() {
    store.reset(new FIX::FileStoreFactory(settings));
    log.reset(new TapLogFactory(settings, &app_));
    initiator.reset(new FIX::SocketInitiator(app_, *store, settings, *log));
  }

  void teardown() {
    if (initiator.get()) {
      if (app_.logged_on) session()->disconnect();
      initiator->stop(true);
      initiator.reset();
    }
    log.reset();
    store.reset();
  }

  FIX::Session* session() {
    if (!initiator.get()) throw Failure("not started: use logon first");
    FIX::Session* s = FIX::Session::lookupSession(session_id);
    if (!s) throw Failure("session not found");
    return s;
  }

  bool sent_logout_pending() { return session()->sentLogout() && app_.logged_on; }

  void pump_once() {
    if (initiator.get()) initiator->poll(0.0);
    usleep(5000);  // the poll does not block: a short sleep keeps this from spinning
  }

  void pump_for(double seconds) {
    double deadline = now_seconds() + seconds;
    while (now_seconds() < deadline) pump_once();
  }

  void wait_logged_on(double seconds) {
    double deadline = now_seconds() + seconds;
    while (!app_.logged_on) {
      if (now_seconds() > deadline) throw Failure("no logon within timeout");
      pump_once();
    }
  }

  static void need(const std::vector<std::string>& w, size_t n, const char* usage) {
    if (w.size() < n) throw Failure(std::string("usage: ") + usage);
  }

  OrderInfo lookup(const std::string& cl_ord_id, const std::vector<std::string>& w, size_t at) {
    OrderInfo o;
    std::map<std::string, OrderInfo>::iterator found = orders.find(cl_ord_id);
    if (found != orders.end()) o = found->second;
    if (w.size() >= at + 2 && w[at].find('=') == std::string::npos) {
      o.symbol = w[at];
      o.side = side_code(w[at + 1]);
    }
    if (o.symbol.empty()) throw Failure("unknown order " + cl_ord_id + ": give SYMBOL SIDE");
    return o;
  }

  static Fields wanted(const std::vector<std::string>& w, size_t first) {
    Fields want;
    for (size_t i = first; i < w.size(); ++i) {
      size_t eq = w[i].find('=');
      if (eq == std::string::npos) throw Failure("expected TAG=VALUE, got " + w[i]);
      want.push_back(std::make_pair(std::atoi(w[i].substr(0, eq).c_str()), w[i].substr(eq + 1)));
    }
    return want;
  }

  static void add_extra(FIX::Message& m, const std::vector<std::string>& w, size_t first) {
    for (size_t i = first; i < w.size(); ++i) {
      size_t eq = w[i].find('=');
      if (eq == std::string::npos) throw Failure("expected TAG=VALUE, got " + w[i]);
      m.setField(std::atoi(w[i].substr(0, eq).c_str()), w[i].substr(eq + 1));
    }
  }

  static FIX::Message app(const std::string& msg_type) {
    FIX::Message m;
    m.getHeader().setField(35, msg_type);
    return m;
  }

  static std::string transact_time() {
    return FIX::UtcTimeStampConvertor::convert(FIX::UtcTimeStamp(), 3);
  }

  void send(FIX::Message& m) {
    if (!app_.logged_on) throw Failure("not logged on");
    if (!FIX::Session::sendToTarget(m, session_id)) throw Failure("QuickFIX refused to send");
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: qf_client SESSION.cfg [SCRIPT]" << std::endl;
    return 2;
  }
  std::ifstream script_file;
  if (argc == 3) {
    script_file.open(argv[2]);
    if (!script_file) {
      std::cerr << "cannot open " << argv[2] << std::endl;
      return 2;
    }
  }
  std::istream& script = argc == 3 ? static_cast<std::istream&>(script_file) : std::cin;
  try {
    Driver driver(argv[1]);
    std::string line;
    while (std::getline(script, line)) driver.run_line(line);
    return 0;
  } catch (Failure& f) {
    emit("fail " + f.reason);
  } catch (std::exception& e) {
    emit(std::string("fail exception: ") + e.what());
  }
  std::cout.flush();
  // Skip destructors: the session must not send a Logout on the way out.
  std::_Exit(1);
}
