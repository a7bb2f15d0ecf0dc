"""Class groups (班级群组): online classes (网络班/普通班) and administrative classes (行政班), check-ins (打卡),
leave requests (请假), student evaluations (学生评价) and after-school courses (课后服务·选课)."""
