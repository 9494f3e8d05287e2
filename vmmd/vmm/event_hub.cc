#include "vmmd/vmm/event_hub.h"

#include <algorithm>
#include <utility>

namespace vmmd::vmm {

EventHub::~EventHub() { Shutdown(); }

EventHub::Subscription::~Subscription() { hub_->Unsubscribe(this); }

std::optional<WatchEvent> EventHub::Subscription::Next(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return closed_ || !queue_.empty(); };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  if (queue_.empty()) return std::nullopt;
  WatchEvent e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

uint64_t EventHub::Subscription::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

bool EventHub::Subscription::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

std::unique_ptr<EventHub::Subscription> EventHub::Subscribe(std::string vm, size_t capacity) {
  auto s = std::unique_ptr<Subscription>(new Subscription(this, std::move(vm), capacity));
  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    absl::MutexLock slock(&s->mu_);
    s->closed_ = true;
  }
  subscribers_.push_back(s.get());
  return s;
}

void EventHub::Unsubscribe(Subscription* s) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(std::remove(subscribers_.begin(), subscribers_.end(), s), subscribers_.end());
}

void EventHub::Publish(WatchEvent event) {
  absl::MutexLock lock(&mu_);
  event.sequence = ++sequence_;
  for (Subscription* s : subscribers_) {
    if (!s->vm_.empty() && s->vm_ != event.vm) continue;
    absl::MutexLock slock(&s->mu_);
    if (s->queue_.size() >= s->capacity_) {
      s->queue_.pop_front();
      ++s->dropped_;
    }
    s->queue_.push_back(event);
  }
}

void EventHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (Subscription* s : subscribers_) {
    absl::MutexLock slock(&s->mu_);
    s->closed_ = true;
  }
}

}  // namespace vmmd::vmm
