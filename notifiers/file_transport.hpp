#pragma once
// The local default email transport: each message becomes <state_dir>/mail/<id>.eml, written to
// a temporary file, fsynced and renamed into place (a reader never sees half a message; the same
// id overwrites, so a redelivery is harmless). The file holds the message exactly as composed.
#include "notifiers/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <filesystem>
#include <memory>

namespace convene::notifiers {

// Writes run on `blocking` (never on the loop); `done` runs on `loop`. Results: sent (code 0,
// the file's path as detail); transient on an I/O error (disk full, permissions); permanent for
// an id that cannot be a file name (empty, a leading '.', or outside [A-Za-z0-9._@+-]).
std::unique_ptr<EmailTransport> make_file_transport(std::filesystem::path state_dir, boost::asio::any_io_executor loop,
                                                    boost::asio::any_io_executor blocking);

}  // namespace convene::notifiers
